"""The platform under every process: settings and the Temporal connection
(``runtime.config``), payload encryption and the codec server (``runtime.codec``),
logs (``runtime.logs``), the embedded dev server (``runtime.embedded``), search
attribute registration (``runtime.search_attributes``) and process shutdown
(``runtime.shutdown``)."""
