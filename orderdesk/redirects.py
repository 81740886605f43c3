"""Where a staff page may send the browser back to after a POST."""

from django.utils.http import url_has_allowed_host_and_scheme


def same_site_path(request, target: str | None, default: str) -> str:
    """`target` when it is a path on this site ("/backlog/?reason=…"), else `default`.

    A `next` field comes from the browser and can be forged: never another
    host ("https://…", "//host", "/\\\\host"), never "javascript:…". Django's
    own check is kept as a second guard for what browsers read leniently.
    """
    target = target or ""
    is_path = target.startswith("/") and not target.startswith(("//", "/\\"))
    if is_path and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default
