"""Canary's sandbox: local, wire-faithful stand-ins for Stripe, Slack and Salesforce, and a chat
page to click the buttons on. The real SDKs reach it by changing only their base URL."""

from sandbox.app import Sandbox, SandboxConfig, SandboxServer, create_app, run

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "create_app", "run"]
