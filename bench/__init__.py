"""The FastAGI benchmark (``make bench``): our server against panoramisk and classic pyst2 AGI."""
