"""A stand-in for ``urllib.request.urlopen`` for the download tests of the data loaders."""

import io


def fake_response(payload):
    """An ``urlopen`` replacement whose response yields ``payload`` (bytes)."""
    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    return lambda url, timeout=None: Response(payload)
