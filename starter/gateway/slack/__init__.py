"""Slack's side of the gateway: the bolt app (`app`) and its listeners, one module per
interaction kind (`listeners/`)."""
