from django.conf import settings


class TrustedProxyMiddleware:
    """Put the real client address in REMOTE_ADDR when Django runs behind a trusted reverse proxy.

    Each proxy appends the address it saw, so with N trusted proxies the client is the Nth entry from
    the right; anything further left was written by the client and is not trusted. Login throttling
    and the audit trail read REMOTE_ADDR, so they see the client, never the proxy.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        header = settings.TRUSTED_PROXY_HEADER
        self.meta_key = "HTTP_" + header.upper().replace("-", "_") if header else None
        self.count = max(settings.TRUSTED_PROXY_COUNT, 1)

    def __call__(self, request):
        if self.meta_key:
            hops = [hop.strip() for hop in request.META.get(self.meta_key, "").split(",") if hop.strip()]
            if len(hops) >= self.count:
                request.META["REMOTE_ADDR"] = hops[-self.count]
        return self.get_response(request)


class BureauSessionTimeoutMiddleware:
    """Bureau staff sessions end after BUREAU_SESSION_IDLE_SECONDS without activity (sliding)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_bureau:
            request.session.set_expiry(settings.BUREAU_SESSION_IDLE_SECONDS)
        return self.get_response(request)
