"""The platform under every process: settings and the Temporal connection
(``runtime.config``), payload encryption (``runtime.codec``, its keys in
``runtime.codec_keys``), the front door's signed assertion of who acts
(``runtime.front_door``), logs (``runtime.logs``), the embedded dev server
(``runtime.embedded``), search attribute registration (``runtime.search_attributes``)
and process shutdown (``runtime.shutdown``)."""
