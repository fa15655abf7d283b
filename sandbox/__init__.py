"""Canary's sandbox: local, wire-faithful stand-ins for Stripe, Slack and Salesforce, and a chat
page to click the buttons on. The real SDKs reach it by changing only their base URL."""

from sandbox.app import create_app
from sandbox.server import SandboxServer, run
from sandbox.state import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "create_app", "run"]
