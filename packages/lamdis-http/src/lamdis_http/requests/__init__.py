"""HTTP calls for ``request`` steps and OAuth token fetches (the Requester port)."""

from lamdis_http.requests.requester import AiohttpRequester

__all__ = ["AiohttpRequester"]
