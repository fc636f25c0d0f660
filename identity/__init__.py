"""Who is asking, proven: verified bearer tokens (OpenID Connect access tokens from the
force's or Home Office's identity provider, or the product's own local issuer over the
users file) and the hashed, scoped credentials of calling systems. Each answers a
``Principal``; what a principal may do is ``access.policy``'s business."""
