"""Pure diagnosis: classify a detection against the catalog, pick the SOP branch, render text.

No I/O and no clocks here, so the same inputs always give the same diagnosis; the workflow
gets it through an activity and history pins it, and the unit tests need no services.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote

from canary.blocks.links import BASE_KEYS, allowed_hosts, reported_link_allowed
from canary.models import (
    Detection,
    Diagnosis,
    DiagnosisPlan,
    DiagnosisStep,
    Link,
    Rule,
)
from canary.models.remediation import DunningCue
from canary.models.sop import Catalog, Said, Sop

MISSING = "(unknown)"
RAW_EXCERPT_LIMIT = 1500
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")


def build_context(
    detection: Detection, facts: dict[str, Any] | None = None, env: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The namespace rules and templates see: detection fields, merged facts, link bases."""
    merged = {**detection.facts, **(facts or {})}
    merged.setdefault("raw_excerpt", excerpt(detection.message or str(detection.raw or "")))
    account = detection.account.model_dump()
    account["name"] = detection.account.label()
    return {
        "id": detection.id,
        "type": detection.type,
        "source": detection.source,
        "source_name": source_name(detection.source),
        "message": detection.message,
        "subject": detection.subject.model_dump(),
        "account": account,
        "facts": merged,
        "env": env or {},
    }


#: How people spell the tools that report errors, for messages ("Zapier reported …").
SOURCE_NAMES = {
    "stripe": "Stripe",
    "salesforce": "Salesforce",
    "slack": "Slack",
    "zapier": "Zapier",
    "make": "Make",
    "n8n": "n8n",
    "workato": "Workato",
    "hubspot": "HubSpot",
    "pandadoc": "PandaDoc",
    "docusign": "DocuSign",
    "product": "The product",
    "canary": "Canary",
}


def source_name(source: str) -> str:
    """A reporting tool's name as people write it: known tools by their own spelling, a
    detector by what it checks ("detector:onboarding-overdue" → "Canary's onboarding-overdue
    check"), any other name with its first letter raised."""
    known = SOURCE_NAMES.get(source.lower())
    if known:
        return known
    if source.startswith("detector:"):
        return f"Canary's {source.removeprefix('detector:')} check"
    return source[:1].upper() + source[1:]


def excerpt(text: str, limit: int = RAW_EXCERPT_LIMIT) -> str:
    """Bound what an error echoes into Slack: keep the start, say how much was cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters in the timeline)"


def lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def evaluate(rule: Rule, context: dict[str, Any]) -> bool:
    if rule.all is not None:
        return all(evaluate(r, context) for r in rule.all)
    if rule.any is not None:
        return any(evaluate(r, context) for r in rule.any)
    if rule.not_ is not None:
        return not evaluate(rule.not_, context)
    value = lookup(context, rule.field or "")
    if rule.exists is not None:
        return (value not in (None, "")) == rule.exists
    if rule.equals is not None:
        return bool(value == rule.equals)
    if rule.not_equals is not None:
        return bool(value != rule.not_equals)
    if rule.in_ is not None:
        return value in rule.in_
    if rule.not_in is not None:
        return value not in rule.not_in
    if rule.contains is not None:
        return isinstance(value, str) and rule.contains.lower() in value.lower()
    if rule.matches is not None:
        return isinstance(value, str) and re.search(rule.matches, value) is not None
    number = _number(value)
    if number is None:
        return False
    if rule.gte is not None:
        return number >= rule.gte
    if rule.lte is not None:
        return number <= rule.lte
    return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def render(
    template: str,
    context: dict[str, Any],
    missing: str = MISSING,
    escape: Callable[[str], str] | None = None,
) -> str:
    """Fill ``{dotted.path}`` placeholders. Only plain lookups: no attribute access or calls,
    so a template (or a value from a webhook) can never reach into Python objects.

    ``escape`` (``canary.blocks.mrkdwn.escape`` for text going to Slack as is) is applied to
    each substituted value and never to the template's own text, so a fact's ``<!channel>``
    shows as text while the template's markup stays markup. Without it the result is raw
    text, which ``canary.blocks`` escapes as a whole when it builds a message (the diagnosis's
    texts are kept raw: the timeline, e-mail and dashboard show them too)."""

    def replace(match: re.Match[str]) -> str:
        value = lookup(context, match.group(1))
        text = missing if value in (None, "") else str(value)
        return escape(text) if escape else text

    return _PLACEHOLDER.sub(replace, template).strip()


def _base_is_setting(url: str) -> bool:
    """Whether an ``investigate`` URL template's host is fixed by configuration: it starts
    with a configured base (``{env.stripe_dashboard}``…) or a literal URL in the catalog."""
    first = _PLACEHOLDER.match(url)
    if first:
        return first.group(1) in {f"env.{key}" for key in BASE_KEYS}
    return url.lower().startswith(("https://", "http://"))


def _render_link(
    label: str, url: str, context: dict[str, Any], hosts: frozenset[str]
) -> tuple[Link, bool] | None:
    """An ``investigate`` link and whether Slack may show it as a link (see
    ``canary.blocks.links`` for the rule); None when a value it needs is missing."""
    for match in _PLACEHOLDER.finditer(url):
        if lookup(context, match.group(1)) in (None, ""):
            return None

    def fill(match: re.Match[str]) -> str:
        path, value = match.group(1), str(lookup(context, match.group(1)))
        if path.startswith("env.") or match.start() == 0:
            return value  # a configured base, or a URL from data that is checked below
        # After the base a value is one percent-encoded piece: it cannot add a path, a
        # query, a ``|label`` or end the link.
        return quote(value, safe="")

    rendered = _PLACEHOLDER.sub(fill, url).strip()
    trusted = _base_is_setting(url) or reported_link_allowed(rendered, hosts)
    return Link(label=render(label, context), url=rendered), trusted


def _link_hosts(env: dict[str, Any]) -> frozenset[str]:
    bases = [str(env.get(key) or "") for key in BASE_KEYS]
    listed = env.get("link_hosts") or []
    return allowed_hosts(bases, [str(h) for h in listed])


def _shown_as_text(links: list[Link]) -> str:
    """The links that may not be links, as a line of text: what they say and where they
    really point, in code so Slack does not link them either."""
    parts = [f"{link.label} `{link.url.replace('`', '')}`" for link in links]
    return (
        "Links reported with it, not opened by Canary (their host is not one it is "
        "configured to link to): " + "; ".join(parts)
    )


def plan(detection: Detection, catalog: Catalog) -> DiagnosisPlan:
    """Decide what to look up: the source's own type if the catalog has it; else the SOPs the
    report matches by its shape (``match`` rules, ``messages`` patterns), in catalog order,
    up to the first that needs no confirming checks. Those that need checks are candidates
    the diagnosis confirms once the lookups answered; the lookups are all of theirs (and
    ``unknown``'s, where every candidate may fail)."""
    steps: list[DiagnosisStep] = []
    context = build_context(detection)
    if detection.type:
        known = catalog.get(detection.type)
        steps.append(
            DiagnosisStep(
                id="type_given",
                title=f"The source named the error type {detection.type!r}",
                matched=known is not None,
                detail="" if known else f"the catalog has no SOP {detection.type!r}",
            )
        )
        if known is not None:
            return _plan_of(known, catalog, steps)
    candidates: list[Sop] = []
    for sop in catalog.sops:
        if sop.type == "unknown" or (sop.match is None and not sop.messages):
            continue
        matched = sop.match is not None and evaluate(sop.match, context)
        detail = sop.match.describe() if sop.match else ""
        if not matched and sop.recognises(detection.message, detection.subject.kind):
            matched, detail = True, "its message matches " + " or ".join(map(repr, sop.messages))
        steps.append(
            DiagnosisStep(
                id=f"match:{sop.type}",
                title=f"Looks like {sop.title.lower()}?",
                matched=matched,
                detail=detail,
            )
        )
        if matched:
            candidates.append(sop)
            if not sop.confirm:
                break
    if not candidates:
        steps.append(
            DiagnosisStep(id="match:unknown", title="No SOP matched: general error", matched=True)
        )
        return _plan_of(catalog.unknown, catalog, steps)
    if len(candidates) == 1 and not candidates[0].confirm:
        return _plan_of(candidates[0], catalog, steps)
    lookups = [n for sop in candidates for n in [*sop.enrich, *sop.confirm_lookups()]]
    if candidates[-1].confirm:
        lookups += catalog.unknown.enrich
    return DiagnosisPlan(
        error_type=candidates[0].type,
        catalog_version=catalog.version,
        enrich=list(dict.fromkeys(lookups)),
        steps=steps,
        candidates=[sop.type for sop in candidates],
    )


def _plan_of(sop: Sop, catalog: Catalog, steps: list[DiagnosisStep]) -> DiagnosisPlan:
    return DiagnosisPlan(
        error_type=sop.type, catalog_version=catalog.version, enrich=list(sop.enrich), steps=steps
    )


def _say(said: Said, context: dict[str, Any]) -> str:
    if isinstance(said, str):
        return render(said, context)
    for phrase in said:
        if phrase.when is None or evaluate(phrase.when, context):
            return render(phrase.text, context)
    return ""


def confirm(
    candidates: list[str], catalog: Catalog, context: dict[str, Any]
) -> tuple[Sop, list[DiagnosisStep], list[str]]:
    """The first candidate whose checks all pass (``unknown`` when none does), the checks
    made, in order, and what they found: one line per candidate tried."""
    steps: list[DiagnosisStep] = []
    lines: list[str] = []
    for error_type in candidates:
        sop = catalog.get(error_type)
        if sop is None:  # a plan made with another catalog (canary whatif)
            steps.append(
                DiagnosisStep(
                    id=f"confirm:{error_type}",
                    title=f"The catalog has an SOP {error_type!r}",
                    matched=False,
                    detail=f"catalog {catalog.version} has none",
                )
            )
            continue
        found: list[str] = []
        verdict: Literal["passed", "failed", "unanswered"] = "passed"
        for check in sop.confirm:
            if check.answered is not None and not evaluate(check.answered, context):
                verdict = "unanswered"
                text = render(
                    check.unanswered or f"could not check that {_lower(check.title)}", context
                )
            elif evaluate(check.holds, context):
                verdict, text = "passed", _say(check.passed, context)
            else:
                verdict, text = "failed", _say(check.failed, context)
            found.append(text)
            steps.append(
                DiagnosisStep(
                    id=f"confirm:{sop.type}:{check.id}",
                    title=check.title,
                    matched=verdict == "passed",
                    detail=check.holds.describe(),
                    verdict=verdict,
                    evidence=text,
                )
            )
            if verdict != "passed":
                break
        if verdict == "passed":
            if found:
                lines.append(f"Checked: {'; '.join(found)}.")
            return sop, steps, lines
        if verdict == "failed":
            lines.append(f"Checked: {'; '.join(found)}, so this is not “{sop.title}”.")
        else:
            found[-1] = f"Canary {found[-1]}"
            lines.append(
                f"Not confirmed as “{sop.title}”: {'; '.join(found)} (a lookup failed; the "
                "thread says why)."
            )
    steps.append(
        DiagnosisStep(id="match:unknown", title="No SOP confirmed: general error", matched=True)
    )
    return catalog.unknown, steps, lines


def _lower(title: str) -> str:
    """A check's title inside a sentence: its first letter lowered unless it starts a name
    or an abbreviation (a capital follows it)."""
    if len(title) > 1 and title[1].isupper():
        return title
    return title[:1].lower() + title[1:]


def diagnose(
    detection: Detection,
    diagnosis_plan: DiagnosisPlan,
    catalog: Catalog,
    facts: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
) -> Diagnosis:
    """Walk the SOP's diagnosis branches in order; the first that matches decides."""
    context = build_context(detection, facts, env)
    hosts = _link_hosts(env or {})
    steps = list(diagnosis_plan.steps)
    evidence: list[str] = []
    if diagnosis_plan.candidates:
        sop, checks, evidence = confirm(diagnosis_plan.candidates, catalog, context)
        steps += checks
    else:
        sop = catalog.get(diagnosis_plan.error_type) or catalog.unknown
    branch = None
    for candidate in sop.branches:
        matched = candidate.when is None or evaluate(candidate.when, context)
        steps.append(
            DiagnosisStep(
                id=candidate.id,
                title=candidate.title,
                matched=matched,
                detail=candidate.when.describe() if candidate.when else "default",
            )
        )
        if matched:
            branch = candidate
            break

    what_happened = render(
        branch.what_happened if branch and branch.what_happened else sop.message.what_happened,
        context,
    )
    summary = what_happened
    if branch and branch.summary:
        summary = f"{what_happened}\n{render(branch.summary, context)}"
    if evidence:
        summary = "\n".join([summary, *evidence])
    what_to_do = render(
        branch.what_to_do if branch and branch.what_to_do else sop.message.what_to_do, context
    )

    candidates = [
        rendered
        for template in sop.investigate
        if template.when is None or evaluate(template.when, context)
        if (rendered := _render_link(template.label, template.url, context, hosts)) is not None
    ]
    candidates += [(link, reported_link_allowed(link.url, hosts)) for link in detection.links]
    links = [link for link, trusted in candidates if trusted]
    as_text = [link for link, trusted in candidates if not trusted]
    if as_text:
        summary = f"{summary}\n{_shown_as_text(as_text)}"

    signature = (
        unknown_signature(detection.source, detection.message) if sop.type == "unknown" else None
    )
    decline_class = retry_plan = None
    if sop.retry_on_plan and not (branch and branch.nothing_to_fix):
        code = context["facts"].get("decline_code") or context["facts"].get("error_code")
        decline_class = catalog.recovery.classify(str(code) if code else None)
        retry_plan = catalog.recovery.plan_for(decline_class)
    loud = sop.alerting.loud_when is not None and evaluate(sop.alerting.loud_when, context)
    # The payer is dunned unless the card is fraudulent or stolen (a hard decline).
    dunning = (
        [
            DunningCue(email=e.id, after_attempt=e.after_attempt, day=e.day)
            for e in catalog.dunning.sequence()
            if e.day is not None or (retry_plan and retry_plan.scheduled)
        ]
        if retry_plan is not None and decline_class != "hard"
        else []
    )
    quiet = bool(retry_plan and retry_plan.scheduled and sop.alerting.quiet_while_retrying)
    return Diagnosis(
        quiet_while_retrying=quiet and not loud,
        dunning=dunning,
        decline_class=decline_class,
        retry_plan=retry_plan,
        error_type=sop.type,
        catalog_version=diagnosis_plan.catalog_version,
        title=sop.title,
        branch=branch.id if branch else None,
        severity=(branch.severity if branch and branch.severity else sop.severity),
        steps=steps,
        headline=render(
            branch.headline if branch and branch.headline else sop.message.headline, context
        ),
        summary=summary,
        what_to_do=what_to_do,
        investigate=links,
        automated=list(branch.steps) if branch else [],
        actions=[
            action.model_copy(
                update={
                    "label": render(action.label, context)[:75],
                    "confirm": render(action.confirm, context) if action.confirm else None,
                }
            )
            for action in (branch.actions if branch and branch.actions is not None else sop.actions)
        ],
        escalation=(
            list(branch.escalation)
            if branch and branch.escalation is not None
            else list(sop.escalation)
        ),
        resolution=sop.resolution,
        facts=context["facts"],
        signature=signature,
        nothing_to_fix=bool(branch and branch.nothing_to_fix),
        alerting=sop.alerting,
        evidence="\n".join(evidence) or None,
    )


_NORMALISERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"https?://\S+"), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b[a-z]{2,5}_[A-Za-z0-9]{6,}\b"), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(?:[.,:]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def normalise_message(message: str) -> str:
    """Strip what varies between occurrences of the same error (ids, numbers, times, urls)."""
    text = message.strip().lower()
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    return text[:500]


def unknown_signature(source: str, message: str) -> str:
    """A stable signature of an unrecognised error, so recurrences can be counted."""
    digest = hashlib.sha256(f"{source.lower()}|{normalise_message(message)}".encode())
    return f"{source.lower()}:{digest.hexdigest()[:12]}"
