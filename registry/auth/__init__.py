"""Authentication and authorization of /v2/ requests.

    request ─► AuthMiddleware ─► Requirement (rules.py: the access the matched route
                    │                         declares for the method)
                    │
                    ▼
                  Gate (gate.py), by the Authorization header:
                    none   ─► the policy for anonymous (policy.py)
                    Basic  ─► htpasswd.py (bcrypt) ─► the policy for that user
                    Bearer ─► tokens.py (JWT) ─► exactly the token's access claims
                    │
                    ▼
                  a Grant (grants.py) on the request scope; handlers ask it (access.py)
                  for the two data-dependent checks: the catalog filter, a mount's source

The built-in token issuer (endpoint.py) serves /token after the Docker token
specification. Off by default: without auth settings no middleware is installed
(setup.py builds it all from the settings).
"""
