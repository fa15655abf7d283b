"""The sandbox org's schema: the sObjects, fields and picklists Canary's SOPs touch.

Salesforce refuses what its schema does not know (unknown objects, unknown or read-only fields,
restricted picklist values), and Canary's adapters must be written against those refusals. So
the sandbox keeps an explicit schema instead of accepting any JSON: a typo in an adapter fails
here the way it would fail against a real org.

Each field carries what a real org's describe says of it: its type and length (the standard
fields' real ones), whether it may be created or updated, and, derived from the type as
Salesforce derives them, whether SOQL may filter, sort, group or aggregate on it. A long text
area (``Description``: a textarea longer than 255 characters) can be selected but never
filtered, sorted or grouped; the SOQL engine refuses those as an org does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEXT_TYPES = frozenset({"string", "textarea", "picklist", "combobox", "email", "url", "phone"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
#: A textarea longer than this is a long text area: not filterable, sortable or groupable.
MAX_FILTERABLE_TEXTAREA = 255
#: Types a describe never reports groupable (numbers with decimals, datetimes, text areas).
UNGROUPABLE_TYPES = frozenset({"currency", "double", "percent", "datetime", "textarea"})
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
#: (precision, scale) of the number types, as Salesforce's standard fields declare them.
_NUMBER_SHAPES = {"currency": (18, 2), "double": (18, 0), "percent": (3, 0), "int": (0, 0)}


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
    auto_number: bool = False  # numbered by Salesforce on insert (CaseNumber)
    name_field: bool = False  # the record's name in the UI and lookups

    @property
    def long_text(self) -> bool:
        return self.type == "textarea" and self.length > MAX_FILTERABLE_TEXTAREA

    @property
    def filterable(self) -> bool:
        """WHERE may name it."""
        return not self.long_text

    @property
    def sortable(self) -> bool:
        """ORDER BY may name it."""
        return not self.long_text

    @property
    def groupable(self) -> bool:
        """GROUP BY may name it."""
        return self.type not in UNGROUPABLE_TYPES

    @property
    def aggregatable(self) -> bool:
        """COUNT() and the other aggregate functions may take it."""
        return not self.long_text

    @property
    def text_length(self) -> int:
        """The most characters a value may have (0 for types that are not text)."""
        if self.type in ID_TYPES:
            return 18
        return self.length if self.type in TEXT_TYPES else 0

    def describe(self) -> dict[str, Any]:
        """The field as ``GET …/sobjects/{name}/describe`` lists it (DescribeFieldResult)."""
        precision, scale = _NUMBER_SHAPES.get(self.type, (0, 0))
        is_text = self.type in TEXT_TYPES
        return {
            "aggregatable": self.aggregatable,
            "aiPredictionField": False,
            "autoNumber": self.auto_number,
            "byteLength": self.text_length * 3 if is_text else self.text_length,
            "calculated": False,
            "calculatedFormula": None,
            "cascadeDelete": False,
            "caseSensitive": False,
            "compoundFieldName": None,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default if self.type == "boolean" else None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.default is not None or not self.createable,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": 9 if self.type == "int" else 0,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": None,
            "filterable": self.filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.groupable,
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.name == "Id" or self.external_id or self.auto_number,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.text_length,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.nillable and self.updateable and self.name != "OwnerId",
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": v == self.default,
                    "label": v,
                    "validFor": None,
                    "value": v,
                }
                for v in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted,
            "scale": scale,
            "searchPrefilterable": self.type == "reference",
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.sortable,
            "type": self.type,
            "unique": False,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
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
        """The object as ``GET …/sobjects`` lists it (DescribeGlobalSObjectResult)."""
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": self.createable,
            "custom": False,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in {"Account", "Contact"},
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        """The object as ``GET …/sobjects/{name}/describe`` answers (DescribeSObjectResult)."""
        return {
            **self.summary(version),
            "actionOverrides": [],
            "childRelationships": [],
            "compactLayoutable": True,
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [f.describe() for f in self.fields.values()],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [],
            "searchLayoutable": True,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [{"label": "All records", "name": "everything"}],
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
                _ro("Name", "string", "Name", length=80, name_field=True),
                _ro("IsSandbox", "boolean", "Is Sandbox", nillable=False),
                _ro("OrganizationType", "picklist", "Edition", length=40),
                _ro("InstanceName", "string", "Instance Name", length=5),
                _ro("TimeZoneSidKey", "picklist", "Default Time Zone", length=40),
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
                FieldDef(
                    "Username", "string", "Username", required=True, nillable=False, length=80
                ),
                FieldDef("FirstName", "string", "First Name", length=40),
                FieldDef(
                    "LastName", "string", "Last Name", required=True, nillable=False, length=80
                ),
                _ro("Name", "string", "Full Name", length=121, name_field=True),
                FieldDef("Email", "email", "Email", required=True, nillable=False, length=128),
                FieldDef("Title", "string", "Title", length=80),
                FieldDef("Department", "string", "Department", length=80),
                FieldDef("Alias", "string", "Alias", length=8),
                FieldDef("Phone", "phone", "Phone", length=40),
                _ref("ManagerId", "Manager ID", ("User",), "Manager"),
                FieldDef("IsActive", "boolean", "Active", nillable=False, default=True),
                FieldDef(
                    "TimeZoneSidKey",
                    "picklist",
                    "Time Zone",
                    length=40,
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
                FieldDef(
                    "Name",
                    "string",
                    "Account Name",
                    required=True,
                    nillable=False,
                    name_field=True,
                ),
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
                FieldDef("Phone", "phone", "Account Phone", length=40),
                FieldDef("Description", "textarea", "Account Description", length=32000),
                FieldDef("BillingCity", "string", "Billing City", length=40),
                FieldDef("BillingCountry", "string", "Billing Country", length=80),
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
                _custom(
                    "Segment__c",
                    "picklist",
                    "Segment",
                    picklist=("Self-serve", "Mid-market", "Enterprise", "Strategic"),
                ),
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
                FieldDef("FirstName", "string", "First Name", length=40),
                FieldDef(
                    "LastName", "string", "Last Name", required=True, nillable=False, length=80
                ),
                _ro("Name", "string", "Full Name", length=121, name_field=True),
                FieldDef("Email", "email", "Email", length=80),
                FieldDef("Phone", "phone", "Business Phone", length=40),
                FieldDef("Title", "string", "Title", length=128),
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
                FieldDef(
                    "Name",
                    "string",
                    "Name",
                    required=True,
                    nillable=False,
                    length=120,
                    name_field=True,
                ),
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
                FieldDef(
                    "Subject",
                    "combobox",
                    "Subject",
                    required=True,
                    nillable=False,
                    name_field=True,
                ),
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
                _ro(
                    "CaseNumber",
                    "string",
                    "Case Number",
                    nillable=False,
                    length=30,
                    auto_number=True,
                    name_field=True,
                ),
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
                FieldDef("SuppliedEmail", "email", "Web Email", length=80),
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
