"""What a file server changes by nature on the responses for STATIC_URL and MEDIA_URL.

The dev server hands out static files through Django's static view (no ETag, an `inline`
Content-Disposition, the source file's mtime) and media through the app, middleware and all;
in production nginx or whitenoise serves both from the files collected into an image, with
their own validators and the caching policy the deployment chose. Those differences are the
nature of the split, not drift: the rules here absorb them (or turn them into notes on the
frontend's policy), scoped to the two prefixes, while the status, Content-Type, length and
body of every such response are still compared.
"""

from __future__ import annotations

from parity.comparison.noise import IgnoreRule, NoiseRules

MIDDLEWARE_HEADERS = ("x-frame-options", "x-content-type-options", "referrer-policy",
                      "cross-origin-opener-policy")
"""What Django's default middleware adds to every response the app itself serves."""


def file_server_noise(static_url: str = "/static/", media_url: str | None = "/media/") -> NoiseRules:
    """What a static file server (nginx, whitenoise, Django's static view) sets by nature on
    responses for STATIC_URL and MEDIA_URL, the caching policy only the frontend adds there,
    and the cache-busting part of asset URLs. Status, Content-Type, length and body are still
    compared, and so is an `attachment` disposition."""
    paths = tuple(dict.fromkeys(p for p in (static_url, media_url) if p))
    policy = ("how long browsers may cache static and media files is the frontend's policy "
              "(nginx's `expires`, whitenoise's max-age), not the app's: a note, not a divergence")
    return NoiseRules([
        IgnoreRule("header", "etag", "a file server's own validator for the file (nginx: its "
                   "mtime and size, whitenoise: its own; Django's static view sends none); the "
                   "file's body is compared", paths=paths),
        IgnoreRule("header_value", "last-modified", "when the file was written on that side (the "
                   "copy collected into the image at build time, the source file locally); "
                   "whether it is sent is compared", paths=paths),
        IgnoreRule("header", "accept-ranges", "nginx and whitenoise announce byte ranges for "
                   "files, Django's static view does not; the full response is compared",
                   paths=paths),
        IgnoreRule("header_alias", "content-type:text/javascript", "file servers name a script's "
                   "type from their own tables: nginx says application/javascript, Python's "
                   "mimetypes text/javascript; RFC 9239 makes the first an obsolete alias of the "
                   "second; any other Content-Type difference is compared", paths=paths),
        IgnoreRule("header_default", "content-disposition:inline", "Django's static view names "
                   "the file `inline`, which is what a response without the header means; an "
                   "`attachment` is compared", paths=paths),
        IgnoreRule("header_policy", "cache-control", policy, paths=paths),
        IgnoreRule("header_policy", "expires", policy, paths=paths),
        IgnoreRule("header_policy", "access-control-allow-origin", "whitenoise lets every origin "
                   "load static files (WHITENOISE_ALLOW_ALL_ORIGINS): the file server's policy, "
                   "a note, not a divergence", paths=paths),
        *[IgnoreRule("header_policy", name, "the app's middleware (SecurityMiddleware, "
                     "XFrameOptionsMiddleware) sets it on the files the app serves itself, a file "
                     "server in front sends what its own config adds (`add_header`): the "
                     "frontend's policy, a note, not a divergence", paths=paths)
          for name in MIDDLEWARE_HEADERS],
        IgnoreRule("asset_url", static_url, "ManifestStaticFilesStorage names collected files with "
                   "a content hash (.<12 hex>.) and versioned URLs carry ?v=<hash>: asset URLs are "
                   "compared without it; the asset is compared wherever a test fetches it"),
    ])
