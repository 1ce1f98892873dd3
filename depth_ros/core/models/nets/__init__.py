"""PyTorch networks of the learned models. Importing these modules imports torch: only
model ``build`` functions and the exporter import them."""
