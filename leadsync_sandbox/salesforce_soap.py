"""The SOAP partner API's convertLead, the only way to convert a Lead through the API.

Requests are real SOAP 1.1 envelopes (SessionHeader + convertLead/leadConverts); answers are
``convertLeadResponse`` documents or SOAP faults (HTTP 500, ``sf:`` fault codes), shaped like
the partner WSDL: LeadConvertResult = accountId, contactId, errors*, leadId, opportunityId,
success.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import flask

from leadsync_sandbox.salesforce_convert import ConvertResult, LeadConvert, convert_lead

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
MAX_CONVERTS = 100


class SoapFault(Exception):
    def __init__(self, code: str, message: str, *, client: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client = client  # soapenv:Client (bad envelope) rather than an sf: API fault


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def parse_envelope(body: bytes) -> tuple[str | None, str, ET.Element]:
    """(sessionId, operation name, operation element) of a SOAP request."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault("soapenv:Client", f"Unable to parse request: {exc}", client=True) from None
    header = _child(root, "Header")
    session_header = _child(header, "SessionHeader") if header is not None else None
    session_id = None
    if session_header is not None:
        sid = _child(session_header, "sessionId")
        session_id = (sid.text or "").strip() if sid is not None else None
    soap_body = _child(root, "Body")
    if _local(root.tag) != "Envelope" or soap_body is None or len(soap_body) == 0:
        raise SoapFault("soapenv:Client", "Missing SOAP Body", client=True)
    operation = soap_body[0]
    return session_id, _local(operation.tag), operation


def lead_converts(operation: ET.Element) -> list[LeadConvert]:
    requests = [c for c in operation if _local(c.tag) == "leadConverts"]
    if len(requests) > MAX_CONVERTS:
        raise SoapFault("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                        f"{MAX_CONVERTS} records into this call")
    return [_lead_convert(element) for element in requests]


def _lead_convert(element: ET.Element) -> LeadConvert:
    def text(name: str) -> str | None:
        child = _child(element, name)
        value = (child.text or "").strip() if child is not None else ""
        return value or None

    def flag(name: str) -> bool:
        return (text(name) or "false").lower() == "true"

    lead_id, status = text("leadId"), text("convertedStatus")
    if not lead_id or not status:
        missing = "leadId" if not lead_id else "convertedStatus"
        raise SoapFault("INVALID_FIELD", f"Required field is missing: {missing}")
    return LeadConvert(
        lead_id=lead_id, converted_status=status, account_id=text("accountId"),
        contact_id=text("contactId"), owner_id=text("ownerId"),
        do_not_create_opportunity=flag("doNotCreateOpportunity"),
        opportunity_name=text("opportunityName"),
        overwrite_lead_source=flag("overwriteLeadSource"),
        send_notification_email=flag("sendNotificationEmail"),
    )


def _envelope(body: str, header: str = "") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>')


def _id(name: str, value: str | None) -> str:
    return f'<{name}>{escape(value)}</{name}>' if value else f'<{name} xsi:nil="true"/>'


def render_results(results: list[ConvertResult], used: int, limit: int) -> str:
    items = []
    for r in results:
        errors = "".join(
            "<errors>" + "".join(f"<fields>{escape(f)}</fields>" for f in e.fields)
            + f"<message>{escape(e.message)}</message>"
            + f"<statusCode>{escape(e.status_code)}</statusCode></errors>" for e in r.errors)
        items.append(f"<result>{_id('accountId', r.account_id)}{_id('contactId', r.contact_id)}"
                     f"{errors}{_id('leadId', r.lead_id)}{_id('opportunityId', r.opportunity_id)}"
                     f"<success>{'true' if r.success else 'false'}</success></result>")
    header = ("<soapenv:Header><LimitInfoHeader><limitInfo>"
              f"<current>{used}</current><limit>{limit}</limit><type>API REQUESTS</type>"
              "</limitInfo></LimitInfoHeader></soapenv:Header>")
    return _envelope(f"<convertLeadResponse>{''.join(items)}</convertLeadResponse>", header)


def render_fault(fault: SoapFault) -> str:
    if fault.client:
        inner = (f"<faultcode>soapenv:Client</faultcode>"
                 f"<faultstring>{escape(fault.message)}</faultstring>")
    else:
        inner = (f'<faultcode>sf:{escape(fault.code)}</faultcode>'
                 f'<faultstring>{escape(fault.code)}: {escape(fault.message)}</faultstring>'
                 f'<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
                 f'<sf:exceptionCode>{escape(fault.code)}</sf:exceptionCode>'
                 f'<sf:exceptionMessage>{escape(fault.message)}</sf:exceptionMessage>'
                 f'</sf:UnexpectedErrorFault></detail>')
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="{FAULT_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<soapenv:Fault>{inner}</soapenv:Fault></soapenv:Body></soapenv:Envelope>')


def register_soap(app: flask.Flask, state) -> None:
    """``POST /services/Soap/u/NN.N``: the partner endpoint, convertLead only."""
    def answer(xml: str, status: int = 200):
        return flask.Response(xml, status, mimetype="text/xml", content_type="text/xml; charset=utf-8")

    @app.post("/services/Soap/u/<version>")
    def soap_partner(version):
        try:
            session_id, operation, element = parse_envelope(flask.request.get_data())
            user = state.session_user(session_id)
            if user is None:
                raise SoapFault("INVALID_SESSION_ID", "Invalid Session ID found in "
                                "SessionHeader: Illegal Session")
            if operation != "convertLead":
                raise SoapFault("soapenv:Client", "No operation available for request "
                                f"{{{PARTNER_NS}}}{operation}", client=True)
            converts = lead_converts(element)
            if not state.spend_call():
                raise SoapFault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            with state.lock:
                results = [convert_lead(state.store, c, actor=user) for c in converts]
            return answer(render_results(results, state.api_usage(), state.daily_limit))
        except SoapFault as fault:
            return answer(render_fault(fault), 500)
