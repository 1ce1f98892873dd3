"""Helper processes for the demo, benchmarks, ``bag run`` and tests: a sample player, an
output collector and the bag player. They talk ROS 2 but are not nodes a robot runs."""
