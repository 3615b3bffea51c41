"""The HTTP layer around the connexion app: middleware, problems, security, access log."""
