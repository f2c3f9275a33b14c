"""Navigation: links that mark the current page (aria-current) and the caller's dashboard link."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

from drift_app import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def navlink(context, url_name: str, label: str, *args, exact: bool = False, within: str = "") -> str:
    """<a> to `url_name`; aria-current="page" on the page itself, "location" anywhere below it.

    `exact` for links whose URL is a prefix of other links' pages (Home is "/", the golden set "/golden/");
    `within`: comma-separated path prefixes that still belong to this link's section.
    """
    url = reverse(url_name, args=args)
    request = context.get("request")
    path = request.path if request is not None else ""
    if path == url:
        return format_html('<a href="{}" aria-current="page">{}</a>', url, label)
    if (not exact and path.startswith(url)) or any(path.startswith(p) for p in within.split(",") if p):
        return format_html('<a href="{}" aria-current="location">{}</a>', url, label)
    return format_html('<a href="{}">{}</a>', url, label)


@register.simple_tag(takes_context=True)
def nav_dashboard(context) -> str:
    """"Dashboard": straight to it when the caller sees one deployment, else the list of their deployments.

    Scoped like every read: only the caller's teams' deployments count.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    slugs = list(selectors.deployment_list(user=user).order_by("name").values_list("slug", flat=True)[:2])
    path = request.path if request is not None else ""
    if len(slugs) == 1:
        url = reverse("verdicts:dashboard", args=[slugs[0]])
    else:
        url = reverse("deployment-list")
    # Marked on dashboards only: with several deployments the link leads to the list, which "Deployments" marks.
    if path.startswith("/deployments/") and path.endswith("/dashboard/"):
        return format_html('<a href="{}" aria-current="page">Dashboard</a>', url)
    return format_html('<a href="{}">Dashboard</a>', url)
