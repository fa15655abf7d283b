"""The HTTP gateway: Stripe webhooks, Slack buttons, the detection API and the report.

`app.create_app` builds it; `deps` holds what the routes need (settings, the Temporal client,
the token checks); `routes/` has one router per concern; `slack/` builds the bolt app and
registers its listeners per interaction kind. Handlers stay thin: verify, acknowledge, convert
to a model, hand to Temporal. Nothing here decides how to remediate; that is the workflow's job.
"""
