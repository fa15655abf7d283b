"""Block Kit as Slack checks it: the blocks a message carries, refused with Slack's
``invalid_blocks`` answer when a block, element or text breaks a documented limit or names a
type the surface does not take.

The limits are Slack's own, from its Block Kit reference (docs.slack.dev → Block Kit →
blocks, block elements, composition objects), declared here rather than borrowed from Canary:
the sandbox stands in for Slack, so Canary's own limits (``canary.blocks.mrkdwn``) are
checked against these, never the other way round.

The blocks Canary sends (section, header, context, actions, divider, image, markdown; buttons,
selects, overflow menus, images, confirmation dialogs) are checked field by field, unknown
fields included. Other block and element types Slack knows are accepted with their type,
``block_id`` and ``action_id`` checked. Each problem is reported as Slack words it, with a
JSON pointer: ``must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.
"""

from __future__ import annotations

from typing import Any

# -- Slack's documented limits ----------------------------------------------------------------

MESSAGE_TEXT = 40_000  # a message's top-level ``text``; beyond it, msg_too_long
MESSAGE_BLOCKS = 50  # blocks in a message
VIEW_BLOCKS = 100  # blocks in a modal or a Home tab
VIEW_TITLE = 24  # a modal's title, submit and close buttons
VIEW_PRIVATE_METADATA = 3000
VIEW_CALLBACK_ID = 255
INPUT_LABEL = 2000
INPUT_HINT = 2000
PLAIN_TEXT_INPUT_LENGTH = 3000
INPUT_PLACEHOLDER = 150  # a plain_text_input's placeholder
#: Elements an input block takes (those Canary uses are checked in depth).
INPUT_ELEMENT_TYPES = frozenset(
    {
        "plain_text_input",
        "static_select",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_users_select",
        "checkboxes",
        "radio_buttons",
        "email_text_input",
        "number_input",
        "url_text_input",
    }
)
BLOCK_ID = 255
ACTION_ID = 255
URL = 3000
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
TEXT_OBJECT = 3000  # any text object without a stricter limit of its own
MARKDOWN_TEXT = 12_000
IMAGE_ALT_TEXT = 2000
IMAGE_TITLE = 2000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_ACCESSIBILITY_LABEL = 75
SELECT_PLACEHOLDER = 150
SELECT_OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
OVERFLOW_OPTIONS = (2, 5)
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30

#: Block types a message may carry; those Canary uses are checked in depth below.
MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
#: Interactive elements an actions block takes.
ACTIONS_ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "external_select",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "overflow",
        "radio_buttons",
        "static_select",
        "timepicker",
        "users_select",
        "workflow_button",
    }
)
#: A section's accessory: any of the above, or an image.
ACCESSORY_TYPES = ACTIONS_ELEMENT_TYPES | {"image"}
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})

Obj = dict[str, Any]


class _Checker:
    """Collects Slack's error lines for one payload."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    # -- primitives ---------------------------------------------------------------------------

    def object(
        self, value: Any, pointer: str, required: set[str], optional: set[str] | None = None
    ) -> bool:
        """An object with ``required`` fields and, when ``optional`` is given, no others."""
        if not isinstance(value, dict):
            self.fail(pointer, "must provide an object")
            return False
        for name in sorted(required - value.keys()):
            self.fail(pointer, f"missing required field: {name}")
        if optional is not None:
            for name in sorted(value.keys() - required - optional):
                self.fail(pointer, f"invalid additional property: {name}")
        return True

    def string(self, value: Any, pointer: str, limit: int, minimum: int = 1) -> None:
        if not isinstance(value, str):
            self.fail(pointer, "must provide a string")
        elif len(value) > limit:
            self.fail(pointer, f"must be less than {limit + 1} characters")
        elif len(value) < minimum:
            self.fail(pointer, f"must be more than {minimum - 1} characters")

    def boolean(self, value: Any, pointer: str) -> None:
        if not isinstance(value, bool):
            self.fail(pointer, "must provide a boolean")

    def array(self, value: Any, pointer: str, most: int, least: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail(pointer, "must provide an array")
            return []
        if len(value) > most:
            self.fail(pointer, f"no more than {most} items allowed")
        elif len(value) < least:
            self.fail(pointer, f"must provide at least {least} items")
        return value

    def enum(self, value: Any, pointer: str, allowed: frozenset[str]) -> bool:
        if value not in allowed:
            self.fail(pointer, "must be a valid enum value")
            return False
        return True

    # -- composition objects ------------------------------------------------------------------

    def text(self, value: Any, pointer: str, limit: int, plain_only: bool = False) -> None:
        """A text object: ``plain_text`` (``emoji``) or ``mrkdwn`` (``verbatim``)."""
        if not self.object(value, pointer, {"type", "text"}, {"emoji", "verbatim"}):
            return
        kind = value.get("type")
        allowed = frozenset({"plain_text"}) if plain_only else TEXT_TYPES
        if "type" in value and not self.enum(kind, f"{pointer}/type", allowed):
            return
        if "text" in value:
            self.string(value["text"], f"{pointer}/text", limit)
        if "emoji" in value:
            if kind != "plain_text":
                self.fail(pointer, "invalid additional property: emoji")
            else:
                self.boolean(value["emoji"], f"{pointer}/emoji")
        if "verbatim" in value:
            if kind != "mrkdwn":
                self.fail(pointer, "invalid additional property: verbatim")
            else:
                self.boolean(value["verbatim"], f"{pointer}/verbatim")

    def confirm(self, value: Any, pointer: str) -> None:
        if not self.object(value, pointer, {"title", "text", "confirm", "deny"}, {"style"}):
            return
        self.text(value.get("title"), f"{pointer}/title", CONFIRM_TITLE, plain_only=True)
        self.text(value.get("text"), f"{pointer}/text", CONFIRM_TEXT)
        self.text(value.get("confirm"), f"{pointer}/confirm", CONFIRM_BUTTON, plain_only=True)
        self.text(value.get("deny"), f"{pointer}/deny", CONFIRM_BUTTON, plain_only=True)
        if "style" in value:
            self.enum(value["style"], f"{pointer}/style", BUTTON_STYLES)

    def option(self, value: Any, pointer: str) -> None:
        if not self.object(value, pointer, {"text", "value"}, {"description", "url"}):
            return
        self.text(value.get("text"), f"{pointer}/text", OPTION_TEXT)
        if "value" in value:
            self.string(value["value"], f"{pointer}/value", OPTION_VALUE)
        if "description" in value:
            self.text(value["description"], f"{pointer}/description", OPTION_DESCRIPTION)
        if "url" in value:
            self.string(value["url"], f"{pointer}/url", URL)

    # -- elements -----------------------------------------------------------------------------

    def element(self, value: Any, pointer: str, allowed: frozenset[str]) -> None:
        if not isinstance(value, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = value.get("type")
        if kind is None:
            self.fail(pointer, "missing required field: type")
            return
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"unsupported type: {kind}")
            return
        if kind == "button":
            self.button(value, pointer)
        elif kind in ("static_select", "multi_static_select"):
            self.static_select(value, pointer)
        elif kind == "overflow":
            self.overflow(value, pointer)
        elif kind == "image":
            self.image_element(value, pointer)
        elif kind == "plain_text_input":
            self.plain_text_input(value, pointer)
        elif kind == "datepicker":
            self.object(
                value,
                pointer,
                {"type"},
                {"action_id", "initial_date", "placeholder", "confirm", "focus_on_load"},
            )
            if "action_id" in value:
                self.string(value["action_id"], f"{pointer}/action_id", ACTION_ID)
        elif "action_id" in value:
            self.string(value["action_id"], f"{pointer}/action_id", ACTION_ID)

    def button(self, value: Obj, pointer: str) -> None:
        self.object(
            value,
            pointer,
            {"type", "text"},
            {"action_id", "url", "value", "style", "confirm", "accessibility_label"},
        )
        self.text(value.get("text"), f"{pointer}/text", BUTTON_TEXT, plain_only=True)
        if "action_id" in value:
            self.string(value["action_id"], f"{pointer}/action_id", ACTION_ID)
        if "url" in value:
            self.string(value["url"], f"{pointer}/url", URL)
        if "value" in value:
            self.string(value["value"], f"{pointer}/value", BUTTON_VALUE)
        if "style" in value:
            self.enum(value["style"], f"{pointer}/style", BUTTON_STYLES)
        if "confirm" in value:
            self.confirm(value["confirm"], f"{pointer}/confirm")
        if "accessibility_label" in value:
            self.string(
                value["accessibility_label"],
                f"{pointer}/accessibility_label",
                BUTTON_ACCESSIBILITY_LABEL,
            )

    def static_select(self, value: Obj, pointer: str) -> None:
        fields = {
            "action_id",
            "placeholder",
            "options",
            "option_groups",
            "initial_option",
            "initial_options",
            "confirm",
            "focus_on_load",
            "max_selected_items",
        }
        self.object(value, pointer, {"type"}, fields)
        if "options" not in value and "option_groups" not in value:
            self.fail(pointer, "must provide either options or option_groups")
        if "action_id" in value:
            self.string(value["action_id"], f"{pointer}/action_id", ACTION_ID)
        if "placeholder" in value:
            self.text(
                value["placeholder"], f"{pointer}/placeholder", SELECT_PLACEHOLDER, plain_only=True
            )
        if "options" in value:
            for n, option in enumerate(
                self.array(value["options"], f"{pointer}/options", SELECT_OPTIONS)
            ):
                self.option(option, f"{pointer}/options/{n}")
        if "initial_option" in value:
            self.option(value["initial_option"], f"{pointer}/initial_option")
        if "confirm" in value:
            self.confirm(value["confirm"], f"{pointer}/confirm")

    def plain_text_input(self, value: Obj, pointer: str) -> None:
        fields = {
            "action_id",
            "placeholder",
            "initial_value",
            "multiline",
            "min_length",
            "max_length",
            "dispatch_action_config",
            "focus_on_load",
        }
        self.object(value, pointer, {"type"}, fields)
        if "action_id" in value:
            self.string(value["action_id"], f"{pointer}/action_id", ACTION_ID)
        most = value.get("max_length", PLAIN_TEXT_INPUT_LENGTH)
        if not isinstance(most, int) or not 1 <= most <= PLAIN_TEXT_INPUT_LENGTH:
            self.fail(f"{pointer}/max_length", f"must be between 1 and {PLAIN_TEXT_INPUT_LENGTH}")
        if "multiline" in value:
            self.boolean(value["multiline"], f"{pointer}/multiline")
        if "placeholder" in value:
            self.text(
                value["placeholder"], f"{pointer}/placeholder", INPUT_PLACEHOLDER, plain_only=True
            )

    def overflow(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type", "options"}, {"action_id", "confirm"})
        if "action_id" in value:
            self.string(value["action_id"], f"{pointer}/action_id", ACTION_ID)
        least, most = OVERFLOW_OPTIONS
        for n, option in enumerate(
            self.array(value.get("options"), f"{pointer}/options", most, least)
        ):
            self.option(option, f"{pointer}/options/{n}")
        if "confirm" in value:
            self.confirm(value["confirm"], f"{pointer}/confirm")

    def image_element(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type", "alt_text"}, {"image_url", "slack_file"})
        if "image_url" not in value and "slack_file" not in value:
            self.fail(pointer, "must provide either image_url or slack_file")
        if "image_url" in value:
            self.string(value["image_url"], f"{pointer}/image_url", URL)
        if "alt_text" in value:
            self.string(value["alt_text"], f"{pointer}/alt_text", IMAGE_ALT_TEXT)

    # -- blocks -------------------------------------------------------------------------------

    def block(self, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = value.get("type")
        if kind is None:
            self.fail(pointer, "missing required field: type")
            return
        if kind not in MESSAGE_BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported type: {kind}")
            return
        if "block_id" in value:
            self.string(value["block_id"], f"{pointer}/block_id", BLOCK_ID)
        check = getattr(self, f"block_{kind}", None)
        if check is not None:
            check(value, pointer)

    def block_section(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type"}, {"block_id", "text", "fields", "accessory", "expand"})
        if "text" not in value and "fields" not in value:
            self.fail(pointer, "must provide either text or fields")
        if "text" in value:
            self.text(value["text"], f"{pointer}/text", SECTION_TEXT)
        if "fields" in value:
            for n, field in enumerate(
                self.array(value["fields"], f"{pointer}/fields", SECTION_FIELDS)
            ):
                self.text(field, f"{pointer}/fields/{n}", SECTION_FIELD_TEXT)
        if "accessory" in value:
            self.element(value["accessory"], f"{pointer}/accessory", ACCESSORY_TYPES)
        if "expand" in value:
            self.boolean(value["expand"], f"{pointer}/expand")

    def block_header(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type", "text"}, {"block_id"})
        if "text" in value:
            self.text(value["text"], f"{pointer}/text", HEADER_TEXT, plain_only=True)

    def block_context(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type", "elements"}, {"block_id"})
        elements = self.array(value.get("elements"), f"{pointer}/elements", CONTEXT_ELEMENTS)
        for n, element in enumerate(elements):
            where = f"{pointer}/elements/{n}"
            if isinstance(element, dict) and element.get("type") == "image":
                self.image_element(element, where)
            else:
                self.text(element, where, TEXT_OBJECT)

    def block_actions(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type", "elements"}, {"block_id"})
        elements = self.array(value.get("elements"), f"{pointer}/elements", ACTIONS_ELEMENTS)
        for n, element in enumerate(elements):
            self.element(element, f"{pointer}/elements/{n}", ACTIONS_ELEMENT_TYPES)

    def block_divider(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type"}, {"block_id"})

    def block_image(self, value: Obj, pointer: str) -> None:
        self.object(
            value, pointer, {"type", "alt_text"}, {"block_id", "image_url", "slack_file", "title"}
        )
        if "image_url" not in value and "slack_file" not in value:
            self.fail(pointer, "must provide either image_url or slack_file")
        if "image_url" in value:
            self.string(value["image_url"], f"{pointer}/image_url", URL)
        if "alt_text" in value:
            self.string(value["alt_text"], f"{pointer}/alt_text", IMAGE_ALT_TEXT)
        if "title" in value:
            self.text(value["title"], f"{pointer}/title", IMAGE_TITLE, plain_only=True)

    def block_input(self, value: Obj, pointer: str) -> None:
        self.object(
            value,
            pointer,
            {"type", "label", "element"},
            {"block_id", "hint", "optional", "dispatch_action"},
        )
        if "label" in value:
            self.text(value["label"], f"{pointer}/label", INPUT_LABEL, plain_only=True)
        if "hint" in value:
            self.text(value["hint"], f"{pointer}/hint", INPUT_HINT, plain_only=True)
        if "optional" in value:
            self.boolean(value["optional"], f"{pointer}/optional")
        if "dispatch_action" in value:
            self.boolean(value["dispatch_action"], f"{pointer}/dispatch_action")
        if "element" in value:
            self.element(value["element"], f"{pointer}/element", INPUT_ELEMENT_TYPES)

    def block_markdown(self, value: Obj, pointer: str) -> None:
        self.object(value, pointer, {"type", "text"}, {"block_id"})
        if "text" in value:
            self.string(value["text"], f"{pointer}/text", MARKDOWN_TEXT)


def message_block_errors(blocks: list[Any]) -> list[str]:
    """What Slack finds wrong with a message's ``blocks`` (empty: nothing), each line as
    Slack words it with its JSON pointer."""
    checker = _Checker()
    if len(blocks) > MESSAGE_BLOCKS:
        checker.fail("/blocks", f"no more than {MESSAGE_BLOCKS} items allowed")
    for n, block in enumerate(blocks):
        checker.block(block, f"/blocks/{n}")
    return checker.errors


def view_errors(view: Any) -> list[str]:
    """What Slack finds wrong with a view (a modal or a Home tab) given to ``views.open``,
    ``views.push``, ``views.update`` or ``views.publish``, each line with its JSON pointer."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("/view", "must provide an object")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail("/view/type", f"unsupported type: {kind}")
        return checker.errors
    optional = {
        "blocks",
        "private_metadata",
        "callback_id",
        "external_id",
        "submit",
        "close",
        "clear_on_close",
        "notify_on_close",
        "submit_disabled",
    }
    required = {"type", "blocks"} | ({"title"} if kind == "modal" else set())
    checker.object(view, "/view", required, optional | {"title"})
    for name in ("title", "submit", "close"):
        if name in view:
            checker.text(view[name], f"/view/{name}", VIEW_TITLE, plain_only=True)
    if "private_metadata" in view:
        checker.string(view["private_metadata"], "/view/private_metadata", VIEW_PRIVATE_METADATA, 0)
    if "callback_id" in view:
        checker.string(view["callback_id"], "/view/callback_id", VIEW_CALLBACK_ID)
    blocks = checker.array(view.get("blocks"), "/view/blocks", VIEW_BLOCKS, 0)
    for n, block in enumerate(blocks):
        checker.block(block, f"/view/blocks/{n}")
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if kind == "modal" and has_input and "submit" not in view:
        checker.fail("/view", "must provide submit when a view has input blocks")
    if kind == "home" and has_input:
        checker.fail("/view/blocks", "input blocks are not allowed in a Home tab")
    return checker.errors
