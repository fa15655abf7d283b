"""The sandbox org's schema: the sObjects, fields and picklists Canary's SOPs touch.

Salesforce refuses what its schema does not know (unknown objects, unknown or read-only fields,
restricted picklist values), and Canary's adapters must be written against those refusals. So
the sandbox keeps an explicit schema instead of accepting any JSON: a typo in an adapter fails
here the way it would fail against a real org.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "url", "phone"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    custom: bool = False
    external_id: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    required: bool = False  # must be given on create (Salesforce: nillable=False, no default)
    default: Any = None
    length: int = 255

    def describe(self) -> dict[str, Any]:
        is_text = self.type in TEXT_TYPES or self.type in ID_TYPES
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "length": (18 if self.type in ID_TYPES else self.length) if is_text else 0,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "custom": self.custom,
            "externalId": self.external_id,
            "idLookup": self.name == "Id" or self.external_id,
            "unique": self.name == "Id",
            "calculated": False,
            "filterable": True,
            "sortable": self.type != "textarea",
            "defaultedOnCreate": self.default is not None or not self.createable,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {"active": True, "defaultValue": v == self.default, "label": v, "value": v}
                for v in self.picklist
            ],
        }


@dataclass
class SObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)  # keyed by lower-case name
    createable: bool = True
    updateable: bool = True
    deletable: bool = True

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.relationship_name and candidate.relationship_name.lower() == lowered:
                return candidate
        return None

    @property
    def required(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.required]

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    def summary(self, version: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        return {
            **self.summary(version),
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [],
            "recordTypeInfos": [],
        }


# Opportunity stages with the defaults Salesforce derives from them (probability, forecast
# category, closed/won). Canary's stage_mismatch SOP reasons about IsClosed/IsWon, so they are
# computed from the stage exactly as a real org does rather than stored independently.
STAGES: dict[str, tuple[float, str, bool, bool]] = {
    "Prospecting": (10.0, "Pipeline", False, False),
    "Qualification": (10.0, "Pipeline", False, False),
    "Needs Analysis": (20.0, "Pipeline", False, False),
    "Value Proposition": (50.0, "Pipeline", False, False),
    "Id. Decision Makers": (60.0, "Pipeline", False, False),
    "Perception Analysis": (70.0, "Pipeline", False, False),
    "Proposal/Price Quote": (75.0, "Best Case", False, False),
    "Negotiation/Review": (90.0, "Commit", False, False),
    "Closed Won": (100.0, "Closed", True, True),
    "Closed Lost": (0.0, "Omitted", True, False),
}
FORECAST_CATEGORIES = ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")
TASK_CLOSED_STATUSES = frozenset({"Completed"})
CASE_CLOSED_STATUSES = frozenset({"Closed"})


def _ro(name: str, type_: str, label: str, **extra: Any) -> FieldDef:
    return FieldDef(name, type_, label, createable=False, updateable=False, **extra)


def _ref(name: str, label: str, to: tuple[str, ...], rel: str, **extra: Any) -> FieldDef:
    return FieldDef(name, "reference", label, reference_to=to, relationship_name=rel, **extra)


def _custom(name: str, type_: str, label: str, **extra: Any) -> FieldDef:
    return FieldDef(name, type_, label, custom=True, **extra)


def _system_fields() -> list[FieldDef]:
    return [
        _ro("IsDeleted", "boolean", "Deleted", nillable=False),
        _ro("CreatedDate", "datetime", "Created Date", nillable=False),
        _ro(
            "CreatedById",
            "reference",
            "Created By ID",
            reference_to=("User",),
            relationship_name="CreatedBy",
            nillable=False,
        ),
        _ro("LastModifiedDate", "datetime", "Last Modified Date", nillable=False),
        _ro(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            nillable=False,
        ),
        _ro("SystemModstamp", "datetime", "System Modstamp", nillable=False),
    ]


def _owner() -> FieldDef:
    return _ref("OwnerId", "Owner ID", ("User",), "Owner", nillable=False)


def _sobject(
    name: str, label: str, plural: str, prefix: str, fields: list[FieldDef], **flags: bool
) -> SObjectDef:
    all_fields = [_ro("Id", "id", f"{label} ID", nillable=False), *fields, *_system_fields()]
    return SObjectDef(name, label, plural, prefix, {f.name.lower(): f for f in all_fields}, **flags)


SCHEMA: dict[str, SObjectDef] = {
    s.name.lower(): s
    for s in [
        _sobject(
            "Organization",
            "Organization",
            "Organizations",
            "00D",
            [
                FieldDef("Name", "string", "Name"),
                FieldDef("IsSandbox", "boolean", "Is Sandbox"),
                FieldDef("OrganizationType", "string", "Edition"),
                FieldDef("InstanceName", "string", "Instance Name"),
                FieldDef("TimeZoneSidKey", "picklist", "Default Time Zone"),
            ],
            createable=False,
            updateable=False,
            deletable=False,
        ),
        _sobject(
            "User",
            "User",
            "Users",
            "005",
            [
                FieldDef("Username", "string", "Username", required=True, nillable=False),
                FieldDef("FirstName", "string", "First Name"),
                FieldDef("LastName", "string", "Last Name", required=True, nillable=False),
                _ro("Name", "string", "Full Name"),
                FieldDef("Email", "email", "Email", required=True, nillable=False),
                FieldDef("Title", "string", "Title"),
                FieldDef("Department", "string", "Department"),
                FieldDef("Alias", "string", "Alias", length=8),
                FieldDef("Phone", "phone", "Phone"),
                _ref("ManagerId", "Manager ID", ("User",), "Manager"),
                FieldDef("IsActive", "boolean", "Active", nillable=False, default=True),
                FieldDef(
                    "TimeZoneSidKey",
                    "picklist",
                    "Time Zone",
                    default="America/Los_Angeles",
                    picklist=(
                        "America/Los_Angeles",
                        "America/New_York",
                        "Europe/London",
                        "Europe/Berlin",
                        "GMT",
                    ),
                ),
            ],
            deletable=False,
        ),
        _sobject(
            "Account",
            "Account",
            "Accounts",
            "001",
            [
                FieldDef("Name", "string", "Account Name", required=True, nillable=False),
                FieldDef(
                    "Type",
                    "picklist",
                    "Account Type",
                    picklist=(
                        "Prospect",
                        "Customer - Direct",
                        "Customer - Channel",
                        "Partner",
                        "Other",
                    ),
                ),
                FieldDef(
                    "Industry",
                    "picklist",
                    "Industry",
                    picklist=(
                        "Technology",
                        "Manufacturing",
                        "Healthcare",
                        "Finance",
                        "Energy",
                        "Media",
                        "Retail",
                        "Other",
                    ),
                ),
                FieldDef("Website", "url", "Website"),
                FieldDef("Phone", "phone", "Account Phone"),
                FieldDef("Description", "textarea", "Account Description", length=32000),
                FieldDef("BillingCity", "string", "Billing City"),
                FieldDef("BillingCountry", "string", "Billing Country"),
                FieldDef("AnnualRevenue", "currency", "Annual Revenue"),
                FieldDef("NumberOfEmployees", "int", "Employees"),
                _ref("ParentId", "Parent Account ID", ("Account",), "Parent"),
                _owner(),
                _custom("Domain__c", "string", "Domain"),
                _custom("Stripe_Customer_Id__c", "string", "Stripe Customer ID", external_id=True),
                _custom("App_Account_Id__c", "string", "App Account ID", external_id=True),
                _custom(
                    "Onboarding_Complete__c",
                    "boolean",
                    "Onboarding Complete",
                    nillable=False,
                    default=False,
                ),
                _custom("Renewal_Date__c", "date", "Renewal Date"),
                _ref(
                    "Customer_Success_Manager__c",
                    "Customer Success Manager",
                    ("User",),
                    "Customer_Success_Manager__r",
                    custom=True,
                ),
            ],
        ),
        _sobject(
            "Contact",
            "Contact",
            "Contacts",
            "003",
            [
                FieldDef("FirstName", "string", "First Name"),
                FieldDef("LastName", "string", "Last Name", required=True, nillable=False),
                _ro("Name", "string", "Full Name"),
                FieldDef("Email", "email", "Email"),
                FieldDef("Phone", "phone", "Business Phone"),
                FieldDef("Title", "string", "Title"),
                _ref("AccountId", "Account ID", ("Account",), "Account"),
                _owner(),
            ],
        ),
        _sobject(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            "006",
            [
                FieldDef("Name", "string", "Name", required=True, nillable=False, length=120),
                _ref("AccountId", "Account ID", ("Account",), "Account"),
                FieldDef(
                    "StageName",
                    "picklist",
                    "Stage",
                    required=True,
                    nillable=False,
                    picklist=tuple(STAGES),
                    restricted=True,
                ),
                FieldDef("Amount", "currency", "Amount"),
                FieldDef("CloseDate", "date", "Close Date", required=True, nillable=False),
                FieldDef("Probability", "percent", "Probability (%)"),
                FieldDef(
                    "ForecastCategoryName",
                    "picklist",
                    "Forecast Category",
                    picklist=FORECAST_CATEGORIES,
                ),
                _ro("IsClosed", "boolean", "Closed", nillable=False),
                _ro("IsWon", "boolean", "Won", nillable=False),
                FieldDef(
                    "Type",
                    "picklist",
                    "Opportunity Type",
                    picklist=("New Business", "Existing Business", "Renewal"),
                ),
                FieldDef(
                    "LeadSource",
                    "picklist",
                    "Lead Source",
                    picklist=("Web", "Phone Inquiry", "Partner Referral", "Other"),
                ),
                FieldDef("NextStep", "string", "Next Step"),
                FieldDef("Description", "textarea", "Description", length=32000),
                _owner(),
                _custom(
                    "Contract_Signed__c",
                    "boolean",
                    "Contract Signed",
                    nillable=False,
                    default=False,
                ),
                _custom("Stripe_Invoice_Id__c", "string", "Stripe Invoice ID", external_id=True),
            ],
        ),
        _sobject(
            "Task",
            "Task",
            "Tasks",
            "00T",
            [
                FieldDef("Subject", "string", "Subject", required=True, nillable=False),
                FieldDef(
                    "Status",
                    "picklist",
                    "Status",
                    nillable=False,
                    default="Not Started",
                    picklist=(
                        "Not Started",
                        "In Progress",
                        "Completed",
                        "Waiting on someone else",
                        "Deferred",
                    ),
                ),
                FieldDef(
                    "Priority",
                    "picklist",
                    "Priority",
                    nillable=False,
                    default="Normal",
                    picklist=("High", "Normal", "Low"),
                ),
                FieldDef("Description", "textarea", "Comments", length=32000),
                FieldDef("ActivityDate", "date", "Due Date Only"),
                FieldDef(
                    "Type", "picklist", "Type", picklist=("Call", "Email", "Meeting", "Other")
                ),
                _ref("WhatId", "Related To ID", ("Account", "Opportunity", "Case"), "What"),
                _ref("WhoId", "Name ID", ("Contact",), "Who"),
                _ro(
                    "AccountId",
                    "reference",
                    "Account ID",
                    reference_to=("Account",),
                    relationship_name="Account",
                ),
                _ro("IsClosed", "boolean", "Closed", nillable=False),
                _owner(),
            ],
        ),
        _sobject(
            "Case",
            "Case",
            "Cases",
            "500",
            [
                _ro("CaseNumber", "string", "Case Number", nillable=False),
                FieldDef("Subject", "string", "Subject"),
                FieldDef("Description", "textarea", "Description", length=32000),
                FieldDef(
                    "Status",
                    "picklist",
                    "Status",
                    nillable=False,
                    default="New",
                    picklist=("New", "Working", "Escalated", "Closed"),
                ),
                FieldDef(
                    "Priority",
                    "picklist",
                    "Priority",
                    default="Medium",
                    picklist=("High", "Medium", "Low"),
                ),
                FieldDef(
                    "Origin", "picklist", "Case Origin", picklist=("Phone", "Email", "Web", "Chat")
                ),
                FieldDef(
                    "Type",
                    "picklist",
                    "Case Type",
                    picklist=("Question", "Problem", "Feature Request", "Billing"),
                ),
                FieldDef(
                    "Reason",
                    "picklist",
                    "Case Reason",
                    picklist=("Installation", "Performance", "Billing", "Other"),
                ),
                FieldDef("SuppliedEmail", "email", "Web Email"),
                FieldDef("IsEscalated", "boolean", "Escalated", nillable=False, default=False),
                _ro("IsClosed", "boolean", "Closed", nillable=False),
                _ro("ClosedDate", "datetime", "Closed Date"),
                _ref("AccountId", "Account ID", ("Account",), "Account"),
                _ref("ContactId", "Contact ID", ("Contact",), "Contact"),
                _owner(),
            ],
        ),
        _sobject(
            "CaseComment",
            "Case Comment",
            "Case Comments",
            "00a",
            [
                _ref(
                    "ParentId",
                    "Parent Case ID",
                    ("Case",),
                    "Parent",
                    required=True,
                    nillable=False,
                    updateable=False,
                ),
                FieldDef("CommentBody", "textarea", "Body", length=4000),
                FieldDef("IsPublished", "boolean", "Published", nillable=False, default=False),
            ],
        ),
    ]
}

PREFIXES: dict[str, str] = {s.key_prefix: s.name for s in SCHEMA.values()}


def sobject(name: str) -> SObjectDef | None:
    """Salesforce matches sObject names case-insensitively (``/sobjects/account`` works)."""
    return SCHEMA.get(name.lower())


def type_of_id(record_id: str) -> str | None:
    return PREFIXES.get(record_id[:3])
