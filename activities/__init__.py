"""Activities and the gateways they talk through (``processes.activities`` puts them
together over the simulator or real adapters)."""
