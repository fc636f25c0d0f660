"""The HTTP process: composes the JSON API, the web app and the codec server."""
