"""What the SOAP 1.1 servers on our side share: reading a request body and writing answers."""

from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from contracts.errors import SoapClientFault

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def request_element(raw: bytes, namespace: str) -> tuple[str, dict[str, str]]:
    """The operation element of a SOAP request: its local name and its child elements' text.

    Raises :class:`SoapClientFault` for XML that is not well-formed or not in ``namespace``.
    """
    return body_element(parse_envelope(raw), namespace)


def parse_envelope(raw: bytes) -> etree._Element:
    """The request's SOAP envelope (header and body); :class:`SoapClientFault` if not XML."""
    try:
        return etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapClientFault(f"request is not well-formed XML: {exc}") from None


def body_element(root: etree._Element, namespace: str) -> tuple[str, dict[str, str]]:
    """The operation element in the body of ``root``, as :func:`request_element` returns it."""
    body = root.find(f"{{{SOAP_ENV}}}Body")
    element = body[0] if body is not None and len(body) else None
    if element is None or etree.QName(element).namespace != namespace:
        raise SoapClientFault(f"the SOAP body holds no request in namespace {namespace}")
    fields = {etree.QName(child).localname: (child.text or "").strip() for child in element}
    return etree.QName(element).localname, fields


def _envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}">'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    )


def soap_response(namespace: str, element: str, fields: dict[str, str]) -> web.Response:
    inner = "".join(f"<tns:{k}>{escape(v)}</tns:{k}>" for k, v in fields.items())
    body = f'<tns:{element} xmlns:tns="{namespace}">{inner}</tns:{element}>'
    return web.Response(text=_envelope(body), content_type="text/xml", charset="utf-8")


def soap_fault(code: str, message: str) -> web.Response:
    """A SOAP 1.1 fault; HTTP 500 as the specification requires."""
    body = f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring></soap:Fault>"
    return web.Response(text=_envelope(body), status=500, content_type="text/xml", charset="utf-8")
