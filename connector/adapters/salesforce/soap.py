"""convertLead over the SOAP partner API: REST has no conversion resource.

Only the envelope is built and parsed here; sending goes through the HTTP policy like any other
call. Shapes follow the partner WSDL: ``LeadConvert`` (leadId, convertedStatus, ownerId,
doNotCreateOpportunity, …) in, ``LeadConvertResult`` (accountId, contactId, errors*, leadId,
opportunityId, success) out; at most 100 leads per call.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Mapping, Sequence
from xml.sax.saxutils import escape

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
MAX_CONVERTS = 100
HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}


@dataclass(frozen=True, slots=True)
class ConvertError:
    status_code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConvertResult:
    lead_id: str | None
    success: bool
    opportunity_id: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    errors: tuple[ConvertError, ...] = ()


def soap_url(instance_url: str, api_version: str) -> str:
    return f"{instance_url.rstrip('/')}/services/Soap/u/{api_version}"


def convert_envelope(session_id: str, lead_ids: Sequence[str], converted_status: str,
                     owner_ids: Mapping[str, str] | None = None) -> bytes:
    """One convertLead request. Every value is XML-escaped: ids come from our store, the status
    from the mapping file, and neither is trusted to be tag-free."""
    if len(lead_ids) > MAX_CONVERTS:
        raise ValueError(f"convertLead takes at most {MAX_CONVERTS} leads per call")
    owner_ids = owner_ids or {}
    converts = "".join(
        "<leadConverts>"
        f"<convertedStatus>{escape(converted_status)}</convertedStatus>"
        "<doNotCreateOpportunity>false</doNotCreateOpportunity>"
        f"<leadId>{escape(lead_id)}</leadId>"
        + (f"<ownerId>{escape(owner_ids[lead_id])}</ownerId>" if owner_ids.get(lead_id) else "")
        + "<overwriteLeadSource>false</overwriteLeadSource>"
        "<sendNotificationEmail>false</sendNotificationEmail>"
        "</leadConverts>"
        for lead_id in lead_ids)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER_NS}">'
            f'<soapenv:Header><SessionHeader><sessionId>{escape(session_id)}</sessionId></SessionHeader>'
            '</soapenv:Header>'
            f'<soapenv:Body><convertLead>{converts}</convertLead></soapenv:Body>'
            '</soapenv:Envelope>').encode("utf-8")


def parse_convert_response(body: bytes | str) -> tuple[list[ConvertResult], tuple[int, int] | None]:
    """Results in request order, plus (used, limit) from the LimitInfoHeader when present."""
    root = ET.fromstring(body.encode("utf-8") if isinstance(body, str) else body)
    results = [_result(element) for element in root.iter() if _local(element.tag) == "result"]
    return results, _limit_info(root)


def _result(element: ET.Element) -> ConvertResult:
    errors = tuple(
        ConvertError(_text(e, "statusCode") or "UNKNOWN", _text(e, "message") or "",
                     tuple(c.text or "" for c in e if _local(c.tag) == "fields"))
        for e in element if _local(e.tag) == "errors")
    return ConvertResult(
        lead_id=_text(element, "leadId"), success=(_text(element, "success") or "").lower() == "true",
        opportunity_id=_text(element, "opportunityId"), account_id=_text(element, "accountId"),
        contact_id=_text(element, "contactId"), errors=errors)


def _limit_info(root: ET.Element) -> tuple[int, int] | None:
    for element in root.iter():
        if _local(element.tag) == "limitInfo" and (_text(element, "type") or "") == "API REQUESTS":
            try:
                return int(_text(element, "current") or ""), int(_text(element, "limit") or "")
            except ValueError:
                return None
    return None


def _text(element: ET.Element, name: str) -> str | None:
    child = next((c for c in element if _local(c.tag) == name), None)
    if child is None:
        return None
    return (child.text or "").strip() or None   # xsi:nil="true" elements have no text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
