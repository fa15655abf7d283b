"""The chat page: the sandbox's Slack as a person sees it, with buttons to click as any of the
workspace's people. A click goes to the app as Slack would send it (``interactivity``); the
page reloads when the workspace's version changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from markupsafe import Markup

from sandbox.deps import InteractivityClient, SandboxDep
from sandbox.slack import home, shortcuts
from sandbox.slack.interactivity import Click, deliver_click, deliver_interaction
from sandbox.slack.modal_page import (
    PageForm,
    back_to,
    field_errors,
    page_modal,
    read_page_form,
    with_errors,
)
from sandbox.slack.mrkdwn import mrkdwn, text_of
from sandbox.slack.seed import SHORTCUTS
from sandbox.slack.state import SlackApiError
from sandbox.slack.views import close_top, enter_from_page, submit_view, view_block_actions
from sandbox.state import Sandbox
from sandbox.templating import TEMPLATES

router = APIRouter()
# The app's Home tab: its page, its event and its clicks; the app's shortcuts.
router.include_router(home.router)
router.include_router(shortcuts.router)
#: The app's shortcuts where Slack offers them: near the message box, in a message's "…" menu.
GLOBAL_SHORTCUTS = [s for s in SHORTCUTS if s["type"] == "global"]
MESSAGE_SHORTCUTS = [s for s in SHORTCUTS if s["type"] == "message"]


def _render_page(
    sandbox: Sandbox, request: Request, flash: str | None = None, error: bool = False
) -> str:
    """One channel of the chat page, as the person acting (``?as=``) sees it."""
    slack = sandbox.slack
    with slack.lock:
        name = request.query_params.get("channel") or "gtm-alerts"
        acting = request.query_params.get("as") or "U0ALICE"
        if acting not in slack.users:
            acting = "U0ALICE"
        try:
            channel = slack.channel(name)
        except SlackApiError:
            channel = slack.channels["C0GTMALERTS"]
        if channel.get("is_im") and channel["user"] != acting:  # another person's DM
            channel = slack.channels["C0GTMALERTS"]
        # The app's direct messages with the person (its Messages tab), once it wrote there.
        own_im = slack.channels.get(slack.ims.get(acting, ""))
        people = [u for u in slack.users.values() if not u["is_bot"]]
        counts = {cid: len(slack.top_level(cid)) for cid in slack.messages}
        top = slack.top_level(channel["id"])
        ephemeral = [
            e for e in slack.ephemeral if e["channel"] == channel["id"] and e["user"] == acting
        ][-5:]
        name_of = slack.user_name

        def view(m: dict[str, Any]) -> dict[str, Any]:
            author = name_of(m.get("user") or "")
            blocks = []
            for b in m.get("blocks") or []:
                shown = dict(b)
                shown["text_html"] = text_of(b.get("text"), name_of)
                shown["fields_html"] = [text_of(f, name_of) for f in b.get("fields") or []]
                if b.get("type") == "context":
                    shown["elements_html"] = [
                        text_of(e, name_of)
                        for e in b.get("elements") or []
                        if e.get("type") in ("mrkdwn", "plain_text")
                    ]
                blocks.append(shown)
            return {
                "ts": m["ts"],
                "channel": m["channel"],
                "author": author,
                "initial": author[:1].upper(),
                "bot": bool(m.get("bot_id")),
                "when": datetime.fromtimestamp(float(m["ts"].split(".")[0]), UTC).strftime(
                    "%H:%M:%S UTC"
                ),
                "edited": bool(m.get("edited")),
                "blocks": blocks,
                "text_html": mrkdwn(m.get("text") or "", name_of),
                "replies": [view(r) for r in slack.replies(m["channel"], m["ts"])],
            }

        def render_element(m: dict[str, Any], b: dict[str, Any], el: dict[str, Any]) -> Markup:
            confirm = el.get("confirm") or {}
            el = dict(
                el,
                confirm_text=" ".join(
                    str((confirm.get(k) or {}).get("text", "")) for k in ("title", "text")
                ).strip()
                if confirm
                else "",
            )
            return Markup(
                TEMPLATES.get_template("element.html").render(m=m, b=b, el=el, acting=acting)
            )

        def render_message(m: dict[str, Any]) -> Markup:
            return Markup(
                TEMPLATES.get_template("message.html").render(
                    m=m,
                    render_message=render_message,
                    render_element=render_element,
                    acting=acting,
                    shortcuts=MESSAGE_SHORTCUTS,
                )
            )

        open_modal = slack.views.top(acting)
        errors = field_errors(request.query_params)
        modal = (
            page_modal(open_modal, name_of, errors, slack.views.drafts.get(open_modal["id"]))
            if open_modal
            else None
        )
        return TEMPLATES.get_template("chat.html").render(
            modal=modal,
            channel=channel,
            channels=[c for c in slack.channels.values() if not c.get("is_im")],
            own_im=own_im,
            shortcuts=GLOBAL_SHORTCUTS,
            counts=counts,
            users=people,
            acting=acting,
            messages=[view(m) for m in top],
            ephemeral=[{"html": mrkdwn(e["text"], name_of)} for e in ephemeral],
            render_message=render_message,
            flash=flash,
            flash_error=error,
            version=sandbox.version,
        )


#: Shown when the page's modal was not the person's view as it is now (the app updated or
#: closed it meanwhile): nothing is sent; the page draws the view as it is, with what was typed.
FORM_CHANGED = "The form changed while you were filling it in: check it and send it again."


@router.post("/_sandbox/slack/views/page", include_in_schema=False)
async def submit_from_page(
    sandbox: SandboxDep, client: InteractivityClient, request: Request
) -> Response:
    """A page's modal (the chat page's or the Home tab's), as Slack's client acts on one:
    submit it (Slack's view_submission; refused, the page shows the modal again with each
    field's error under it), close it, send a dispatching input's choice at once
    (``act``: block_actions with the view and what was entered so far), or keep what is typed
    while the page draws the view the app updated (``keep``)."""
    data = dict((await request.form()).items())
    form = read_page_form(data)
    target = back_to(str(data.get("back") or data.get("channel") or "gtm-alerts"), form.user)
    slack = sandbox.slack
    if form.close:
        with slack.lock:
            close_top(slack.views, form.user, form.view_id)
        return RedirectResponse(target, status_code=303)
    with slack.lock:
        current = enter_from_page(
            slack.views, form.user, form.view_id, form.hash, form.drawn, form.entered
        )
    if form.keep:
        return RedirectResponse(target, status_code=303)
    if not current:
        return RedirectResponse(f"{target}&err=1&flash={quote(FORM_CHANGED)}", status_code=303)
    if form.act:
        if not form.entered.get(form.act):
            return RedirectResponse(target, status_code=303)  # nothing chosen: nothing sent
        return await _dispatch_from_page(sandbox, client, form, target)
    try:
        done = await submit_view(sandbox, client, form.user, form.view_id, form.entered)
    except SlackApiError as exc:
        return RedirectResponse(f"{target}&err=1&flash={quote(exc.error)}", status_code=303)
    if done.errors:
        return RedirectResponse(with_errors(target, done.errors), status_code=303)
    if done.answer:
        return RedirectResponse(f"{target}&err=1&flash={quote(done.answer[:300])}", status_code=303)
    return RedirectResponse(target, status_code=303)


async def _dispatch_from_page(
    sandbox: Sandbox, client: httpx.AsyncClient, form: PageForm, target: str
) -> Response:
    """A choice in a dispatching input goes to the app at once, as the API route sends it
    (``views/action``); the page comes back to the modal, which redraws when the app updates
    it (the modal's script watches the view's hash)."""
    action_id = form.drawn.get(form.act, ("", ""))[0]
    try:
        with sandbox.slack.lock:
            payload = view_block_actions(
                sandbox.slack,
                form.user,
                form.view_id,
                form.act,
                action_id,
                form.entered[form.act],
                form.entered,
            )
    except SlackApiError as exc:
        return RedirectResponse(f"{target}&err=1&flash={quote(exc.error)}", status_code=303)
    status, text, _ = await deliver_interaction(sandbox, client, payload)
    sandbox.bump()
    if not 200 <= status < 300:
        flash = f"The app answered {status}: {text[:200]}"
        return RedirectResponse(f"{target}&err=1&flash={quote(flash)}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(sandbox: SandboxDep, request: Request) -> HTMLResponse:
    flash = request.query_params.get("flash")
    return HTMLResponse(
        _render_page(sandbox, request, flash, request.query_params.get("err") == "1")
    )


@router.get("/archives/{channel}/{message}", include_in_schema=False)
async def permalink(sandbox: SandboxDep, channel: str, message: str) -> Response:
    try:
        name = sandbox.slack.channel(channel).get("name") or channel
    except SlackApiError:
        return PlainTextResponse("No such channel", status_code=404)
    ts = message.removeprefix("p")
    anchor = f"{ts[:-6]}.{ts[-6:]}" if len(ts) > 6 else ts
    return RedirectResponse(f"/?channel={name}#m{anchor}", status_code=302)


@router.get("/_sandbox/slack/version", tags=["sandbox"])
async def slack_version(sandbox: SandboxDep) -> dict[str, int]:
    return {"version": sandbox.version}


@router.post("/_sandbox/slack/click", tags=["sandbox"])
async def click(sandbox: SandboxDep, client: InteractivityClient, request: Request) -> Response:
    """Click a button or choose an option, as ``user``: Slack's signed ``block_actions``
    goes to the interactivity URL. JSON in → JSON out; the chat page's forms get a redirect."""
    from_page = "json" not in request.headers.get("content-type", "")
    if from_page:
        form = dict((await request.form()).items())
        data: dict[str, Any] = {k: v for k, v in form.items() if v != ""}
    else:
        data = await request.json()
    sent_at: float | None = None
    try:
        parsed = Click.model_validate(data)
        status, text, sent_at = await deliver_click(sandbox, client, parsed)
    except SlackApiError as exc:
        status, text = 404, exc.error
    except ValueError as exc:
        status, text = 422, str(exc)
    if not from_page:
        # sent_at: when the signed request left for the app (epoch seconds), so a caller
        # can time the app apart from the sandbox's own work.
        return JSONResponse(
            {"status": status, "body": text, "sent_at": sent_at},
            status_code=200 if status < 500 or status == 502 else status,
        )
    channel = data.get("channel", "gtm-alerts")
    try:
        channel = sandbox.slack.channel(channel).get("name") or channel
    except SlackApiError:
        pass
    flash = "" if 200 <= status < 300 else f"The app answered {status}: {text[:200]}"
    target = f"/?channel={quote(str(channel))}&as={quote(str(data.get('user', '')))}"
    if flash:
        target += f"&err=1&flash={quote(flash)}"
    return RedirectResponse(target, status_code=303)
