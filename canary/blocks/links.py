"""Which links Slack shows as links.

A link in a Canary message is one of:

1. built by Canary from a setting (the Temporal UI link of a remediation);
2. an SOP's ``investigate`` template whose URL starts with a configured base (``{env.…}``:
   the Stripe dashboard, the Salesforce instance, the Temporal UI) or with a literal
   ``https://`` written in the catalog; the facts fill only the path after that base and are
   percent-encoded, so no fact can change the host, add a ``|label`` or end the link;
3. any other URL, whose host comes from data (a template that is one fact such as
   ``{facts.source_url}``, a detection's ``links``): a link only when it is https and its host
   is one of the configured bases' hosts or listed in ``CANARY_LINK_HOSTS`` (the product's
   admin, say). Otherwise it is shown as text, never as a link whose label could pretend to
   be a Stripe invoice.

Links that Canary's own lookups return (Stripe's hosted invoice page) are of the first kind.
Every label is escaped (:func:`canary.blocks.mrkdwn.link`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from canary.blocks.mrkdwn import safe_url

#: The ``env`` keys (see ``activities.investigate``) whose values are configured link bases.
BASE_KEYS = ("stripe_dashboard", "salesforce_url", "temporal_ui")


def allowed_hosts(bases: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    """The hosts a reported link may point to: the configured bases' and the listed ones."""
    hosts = {(urlsplit(base).hostname or "").lower() for base in bases if base}
    hosts |= {host.strip().lower() for host in extra if host.strip()}
    return frozenset(h for h in hosts if h)


def reported_link_allowed(url: str, hosts: frozenset[str]) -> bool:
    """Whether a URL whose host comes from data may be a link: https, on an allowed host."""
    if not safe_url(url):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "").lower() in hosts
