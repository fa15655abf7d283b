"""The demo org: Acme GTM's people, customers, deals, tasks and cases.

Every Canary scenario is told against these records, so the identities are fixed: the same
names, e-mails and (deterministic) ids after every reset. Dates are relative to the day the org
is seeded, so "closed last week" stays true whenever the demo runs.

The stories the data carries:

* Globex — a committed enterprise deal (Commit, contract signed) whose close date has passed;
  Stripe payment failures on Globex land on it. Its billing contact files an angry case.
* Initech — Closed Won three weeks ago, onboarding still incomplete (onboarding_overdue).
* Hooli — contract signed and past its close date but not Closed Won (stage_mismatch).
  Hooli Europe shares the domain, so a domain search finds two candidate accounts.
* Wayne — contract not signed: the "Closed Won requires a signed contract" rule refuses it.
* Umbrella — renewal in 25 days and no business review logged (renewal_touchpoint_missed).
* Stark — no product account linked yet (account_unlinked with one candidate).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .ids import make_id

Record = dict[str, Any]

ORG_ID = make_id("00D", 1)
ORG_NAME = "Acme GTM (Canary sandbox)"

# Short handles → ids, for tests, docs and the demo scenario.
SEED_IDS: dict[str, str] = {
    # Users
    "alice": make_id("005", 1),
    "bob": make_id("005", 2),
    "carol": make_id("005", 3),
    "dan": make_id("005", 4),
    "erin": make_id("005", 5),
    "frank": make_id("005", 6),
    "gina": make_id("005", 7),
    "integration": make_id("005", 8),
    # Accounts
    "globex": make_id("001", 1),
    "initech": make_id("001", 2),
    "umbrella": make_id("001", 3),
    "hooli": make_id("001", 4),
    "hooli_europe": make_id("001", 5),
    "stark": make_id("001", 6),
    "wayne": make_id("001", 7),
    # Contacts
    "nancy_globex": make_id("003", 1),
    "hank_globex": make_id("003", 2),
    "peter_initech": make_id("003", 3),
    "milton_initech": make_id("003", 4),
    "gavin_hooli": make_id("003", 5),
    "albert_umbrella": make_id("003", 6),
    "pepper_stark": make_id("003", 7),
    "lucius_wayne": make_id("003", 8),
    # Opportunities
    "opp_globex_enterprise": make_id("006", 1),
    "opp_initech_growth": make_id("006", 2),
    "opp_hooli_expansion": make_id("006", 3),
    "opp_wayne_pilot": make_id("006", 4),
    "opp_umbrella_renewal": make_id("006", 5),
    "opp_stark_new_logo": make_id("006", 6),
    "opp_hooli_europe_pilot": make_id("006", 7),
    "opp_globex_services": make_id("006", 8),
    # Tasks, cases, comments
    "task_initech_kickoff": make_id("00T", 1),
    "task_globex_order_form": make_id("00T", 2),
    "task_hooli_qbr": make_id("00T", 3),
    "task_wayne_follow_up": make_id("00T", 4),
    "case_globex_invoice": make_id("500", 1),
    "case_hooli_sso": make_id("500", 2),
    "comment_globex_angry": make_id("00a", 1),
    "comment_hooli_neutral": make_id("00a", 2),
}
INTEGRATION_USER_ID = SEED_IDS["integration"]

ANGRY_COMMENT = (
    "This is the third time the invoice is wrong. Completely unacceptable, "
    "we are considering cancelling."
)
NEUTRAL_COMMENT = (
    "Thanks, that worked. Could you also send the SSO setup guide for our EU admins? No rush."
)


def _ts(today: date, days_ago: int, hour: int = 10) -> str:
    moment = datetime.combine(today - timedelta(days=days_ago), time(hour), tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _day(today: date, offset: int) -> str:
    return (today + timedelta(days=offset)).isoformat()


def organization(today: date) -> Record:
    return {
        "Id": ORG_ID,
        "Name": ORG_NAME,
        "IsSandbox": True,
        "OrganizationType": "Enterprise Edition",
        "InstanceName": "CANARY1",
        "TimeZoneSidKey": "GMT",
        "CreatedDate": _ts(today, 900),
    }


def integration_user(today: date) -> Record:
    """The API user Canary signs in as: default owner of what Canary creates."""
    return _user(
        today, "integration", "Canary", "Integration", "Integration User", None, "Systems", "canary"
    )


def _user(
    today: date,
    handle: str,
    first: str,
    last: str,
    title: str,
    manager: str | None,
    department: str,
    alias: str,
) -> Record:
    email = f"{handle}@acme-gtm.example"
    return {
        "Id": SEED_IDS[handle],
        "Username": email,
        "FirstName": first,
        "LastName": last,
        "Email": email,
        "Title": title,
        "Department": department,
        "Alias": alias,
        "ManagerId": SEED_IDS[manager] if manager else None,
        "IsActive": True,
        "CreatedDate": _ts(today, 700),
    }


def users(today: date) -> list[Record]:
    return [
        _user(today, "alice", "Alice", "Nguyen", "Account Executive", "bob", "Sales", "anguy"),
        _user(today, "bob", "Bob", "Martinez", "Sales Manager", None, "Sales", "bmart"),
        _user(
            today,
            "carol",
            "Carol",
            "Okafor",
            "Customer Success Manager",
            "frank",
            "Customer Success",
            "cokaf",
        ),
        _user(today, "dan", "Dan", "Reyes", "Revenue Operations Manager", None, "RevOps", "dreye"),
        _user(today, "erin", "Erin", "Walsh", "Finance Manager", None, "Finance", "ewals"),
        _user(
            today,
            "frank",
            "Frank",
            "Li",
            "Customer Success Director",
            None,
            "Customer Success",
            "fli",
        ),
        # Gina has no Slack account: notifications about her deals must fall back (e-mail,
        # manager, escalation channel).
        _user(today, "gina", "Gina", "Alvarez", "Account Executive", "bob", "Sales", "galva"),
        integration_user(today),
    ]


def accounts(today: date) -> list[Record]:
    def account(
        handle: str,
        name: str,
        website: str,
        domain: str,
        owner: str,
        *,
        industry: str,
        type_: str,
        stripe: str | None,
        app: str | None,
        onboarded: bool,
        renewal_in: int | None,
        segment: str = "Mid-market",
        csm: str | None = "carol",
        parent: str | None = None,
        created_days_ago: int = 400,
    ) -> Record:
        return {
            "Id": SEED_IDS[handle],
            "Name": name,
            "Website": website,
            "Domain__c": domain,
            "Industry": industry,
            "Type": type_,
            "OwnerId": SEED_IDS[owner],
            "Customer_Success_Manager__c": SEED_IDS[csm] if csm else None,
            "ParentId": SEED_IDS[parent] if parent else None,
            "Stripe_Customer_Id__c": stripe,
            "App_Account_Id__c": app,
            "Onboarding_Complete__c": onboarded,
            "Renewal_Date__c": _day(today, renewal_in) if renewal_in is not None else None,
            "Segment__c": segment,
            "CreatedDate": _ts(today, created_days_ago),
        }

    return [
        account(
            "globex",
            "Globex Corporation",
            "https://www.globex.example",
            "globex.example",
            "alice",
            industry="Manufacturing",
            type_="Customer - Direct",
            stripe="cus_SbxGlobex000001",
            app="app_globex",
            onboarded=True,
            renewal_in=330,
            segment="Enterprise",
        ),
        account(
            "initech",
            "Initech",
            "https://www.initech.example",
            "initech.example",
            "alice",
            industry="Technology",
            type_="Customer - Direct",
            stripe="cus_SbxInitech00001",
            app="app_initech",
            onboarded=False,
            renewal_in=345,
            created_days_ago=120,
        ),
        account(
            "umbrella",
            "Umbrella Corp",
            "https://www.umbrella.example",
            "umbrella.example",
            "gina",
            industry="Healthcare",
            type_="Customer - Direct",
            stripe="cus_SbxUmbrella0001",
            app="app_umbrella",
            onboarded=True,
            renewal_in=25,
            created_days_ago=360,
            segment="Enterprise",
        ),
        account(
            "hooli",
            "Hooli",
            "https://www.hooli.example",
            "hooli.example",
            "alice",
            industry="Technology",
            type_="Customer - Direct",
            stripe="cus_SbxHooli0000001",
            app="app_hooli",
            onboarded=True,
            renewal_in=120,
            created_days_ago=500,
            segment="Strategic",
        ),
        account(
            "hooli_europe",
            "Hooli Europe",
            "https://eu.hooli.example",
            "hooli.example",
            "gina",
            industry="Technology",
            type_="Prospect",
            stripe=None,
            app=None,
            onboarded=False,
            renewal_in=None,
            csm=None,
            parent="hooli",
            created_days_ago=90,
            segment="Enterprise",
        ),
        account(
            "stark",
            "Stark Industries",
            "https://www.stark.example",
            "stark.example",
            "alice",
            industry="Manufacturing",
            type_="Prospect",
            stripe=None,
            app=None,
            onboarded=False,
            renewal_in=None,
            created_days_ago=60,
        ),
        account(
            "wayne",
            "Wayne Enterprises",
            "https://www.wayne.example",
            "wayne.example",
            "gina",
            industry="Finance",
            type_="Prospect",
            stripe="cus_SbxWayne0000001",
            app="app_wayne",
            onboarded=False,
            renewal_in=None,
            csm=None,
            created_days_ago=45,
        ),
    ]


def contacts(today: date) -> list[Record]:
    def contact(
        handle: str, first: str, last: str, email: str, title: str, account: str, owner: str
    ) -> Record:
        return {
            "Id": SEED_IDS[handle],
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "Title": title,
            "AccountId": SEED_IDS[account],
            "OwnerId": SEED_IDS[owner],
            "CreatedDate": _ts(today, 200),
        }

    return [
        contact(
            "nancy_globex",
            "Nancy",
            "Hayes",
            "ap@globex.example",
            "Accounts Payable Manager",
            "globex",
            "alice",
        ),
        contact("hank_globex", "Hank", "Scorpio", "hank@globex.example", "CEO", "globex", "alice"),
        contact(
            "peter_initech",
            "Peter",
            "Gibbons",
            "peter.gibbons@initech.example",
            "Operations Lead",
            "initech",
            "alice",
        ),
        contact(
            "milton_initech",
            "Milton",
            "Waddams",
            "billing@initech.example",
            "Billing Coordinator",
            "initech",
            "alice",
        ),
        contact("gavin_hooli", "Gavin", "Belson", "gavin@hooli.example", "CEO", "hooli", "alice"),
        contact(
            "albert_umbrella",
            "Albert",
            "Wesker",
            "albert.wesker@umbrella.example",
            "Head of Procurement",
            "umbrella",
            "gina",
        ),
        contact("pepper_stark", "Pepper", "Potts", "pepper@stark.example", "COO", "stark", "alice"),
        contact("lucius_wayne", "Lucius", "Fox", "lucius@wayne.example", "CTO", "wayne", "gina"),
    ]


def opportunities(today: date) -> list[Record]:
    def opp(
        handle: str,
        name: str,
        account: str,
        stage: str,
        amount: float,
        close_in: int,
        owner: str,
        *,
        type_: str,
        contract: bool,
        forecast: str | None = None,
        created_days_ago: int = 60,
    ) -> Record:
        record: Record = {
            "Id": SEED_IDS[handle],
            "Name": name,
            "AccountId": SEED_IDS[account],
            "StageName": stage,
            "Amount": amount,
            "CloseDate": _day(today, close_in),
            "OwnerId": SEED_IDS[owner],
            "Type": type_,
            "Contract_Signed__c": contract,
            "Stripe_Invoice_Id__c": None,
            "CreatedDate": _ts(today, created_days_ago),
        }
        if forecast:
            record["ForecastCategoryName"] = forecast
        return record

    return [
        opp(
            "opp_globex_enterprise",
            "Globex — Enterprise annual",
            "globex",
            "Negotiation/Review",
            48000.0,
            -7,
            "alice",
            type_="New Business",
            contract=True,
            forecast="Commit",
            created_days_ago=75,
        ),
        opp(
            "opp_initech_growth",
            "Initech — Growth",
            "initech",
            "Closed Won",
            5000.0,
            -20,
            "alice",
            type_="New Business",
            contract=True,
            created_days_ago=110,
        ),
        opp(
            "opp_hooli_expansion",
            "Hooli — Expansion",
            "hooli",
            "Negotiation/Review",
            90000.0,
            -3,
            "alice",
            type_="Existing Business",
            contract=True,
            created_days_ago=50,
        ),
        opp(
            "opp_wayne_pilot",
            "Wayne — Pilot",
            "wayne",
            "Negotiation/Review",
            12000.0,
            5,
            "gina",
            type_="New Business",
            contract=False,
            created_days_ago=40,
        ),
        opp(
            "opp_umbrella_renewal",
            "Umbrella — Renewal",
            "umbrella",
            "Proposal/Price Quote",
            36000.0,
            25,
            "gina",
            type_="Renewal",
            contract=False,
            created_days_ago=30,
        ),
        opp(
            "opp_stark_new_logo",
            "Stark — New logo",
            "stark",
            "Qualification",
            60000.0,
            45,
            "alice",
            type_="New Business",
            contract=False,
            created_days_ago=20,
        ),
        opp(
            "opp_hooli_europe_pilot",
            "Hooli Europe — Pilot",
            "hooli_europe",
            "Closed Lost",
            8000.0,
            -60,
            "gina",
            type_="New Business",
            contract=False,
            created_days_ago=90,
        ),
        opp(
            "opp_globex_services",
            "Globex — Services add-on",
            "globex",
            "Closed Won",
            6000.0,
            -90,
            "alice",
            type_="Existing Business",
            contract=True,
            created_days_ago=130,
        ),
    ]


def tasks(today: date) -> list[Record]:
    def task(
        handle: str,
        subject: str,
        status: str,
        what: str,
        owner: str,
        due_in: int,
        *,
        who: str | None = None,
        type_: str = "Other",
        priority: str = "Normal",
        created_days_ago: int = 30,
    ) -> Record:
        return {
            "Id": SEED_IDS[handle],
            "Subject": subject,
            "Status": status,
            "Priority": priority,
            "Type": type_,
            "WhatId": SEED_IDS[what],
            "WhoId": SEED_IDS[who] if who else None,
            "OwnerId": SEED_IDS[owner],
            "ActivityDate": _day(today, due_in),
            "CreatedDate": _ts(today, created_days_ago),
        }

    return [
        task(
            "task_initech_kickoff",
            "Kickoff call with Initech",
            "Completed",
            "opp_initech_growth",
            "carol",
            -15,
            who="peter_initech",
            type_="Meeting",
            created_days_ago=19,
        ),
        task(
            "task_globex_order_form",
            "Send the countersigned order form to Globex",
            "Not Started",
            "opp_globex_enterprise",
            "alice",
            1,
            who="nancy_globex",
            type_="Email",
            priority="High",
            created_days_ago=2,
        ),
        task(
            "task_hooli_qbr",
            "Quarterly business review — Hooli",
            "Completed",
            "hooli",
            "carol",
            -80,
            who="gavin_hooli",
            type_="Meeting",
            created_days_ago=95,
        ),
        task(
            "task_wayne_follow_up",
            "Follow up on the Wayne pilot contract",
            "In Progress",
            "opp_wayne_pilot",
            "gina",
            -2,
            who="lucius_wayne",
            type_="Call",
            created_days_ago=10,
        ),
    ]


def cases(today: date) -> list[Record]:
    return [
        {
            "Id": SEED_IDS["case_globex_invoice"],
            "Subject": "Invoice amount wrong again",
            "Description": "Our latest invoice charges for 60 seats; we have 48.",
            "Status": "Escalated",
            "Priority": "High",
            "Origin": "Email",
            "Type": "Billing",
            "Reason": "Billing",
            "SuppliedEmail": "ap@globex.example",
            "AccountId": SEED_IDS["globex"],
            "ContactId": SEED_IDS["nancy_globex"],
            "OwnerId": SEED_IDS["carol"],
            "CreatedDate": _ts(today, 1, hour=9),
        },
        {
            "Id": SEED_IDS["case_hooli_sso"],
            "Subject": "Adding SSO users for the EU team",
            "Description": "How do we add SSO users from our EU directory?",
            "Status": "Working",
            "Priority": "Medium",
            "Origin": "Web",
            "Type": "Question",
            "AccountId": SEED_IDS["hooli"],
            "ContactId": SEED_IDS["gavin_hooli"],
            "OwnerId": SEED_IDS["carol"],
            "CreatedDate": _ts(today, 3, hour=14),
        },
    ]


def case_comments(today: date) -> list[Record]:
    return [
        {
            "Id": SEED_IDS["comment_globex_angry"],
            "ParentId": SEED_IDS["case_globex_invoice"],
            "CommentBody": ANGRY_COMMENT,
            "IsPublished": True,
            "CreatedDate": _ts(today, 0, hour=8),
        },
        {
            "Id": SEED_IDS["comment_hooli_neutral"],
            "ParentId": SEED_IDS["case_hooli_sso"],
            "CommentBody": NEUTRAL_COMMENT,
            "IsPublished": True,
            "CreatedDate": _ts(today, 2, hour=16),
        },
    ]


def seed_records(today: date) -> list[tuple[str, list[Record]]]:
    """Every seeded record, parents before children (the order they are loaded)."""
    return [
        ("User", users(today)),
        ("Account", accounts(today)),
        ("Contact", contacts(today)),
        ("Opportunity", opportunities(today)),
        ("Task", tasks(today)),
        ("Case", cases(today)),
        ("CaseComment", case_comments(today)),
    ]


# Import-time snapshots for callers that want the identities; dates in them are relative to
# the day the module was imported (a SalesforceState re-derives them whenever it resets).
_TODAY = datetime.now(UTC).date()
SEED_USERS: list[Record] = users(_TODAY)
SEED_ACCOUNTS: list[Record] = accounts(_TODAY)
SEED_CONTACTS: list[Record] = contacts(_TODAY)
SEED_OPPORTUNITIES: list[Record] = opportunities(_TODAY)
SEED_TASKS: list[Record] = tasks(_TODAY)
SEED_CASES: list[Record] = cases(_TODAY)
SEED_CASE_COMMENTS: list[Record] = case_comments(_TODAY)
