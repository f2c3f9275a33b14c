"""A confirmation step for weighty actions (set a baseline, resolve a code red, retire a golden item).

The page's form carries `data-confirm="<consequence>"`: static/js/confirm.js asks in a <dialog> first and
then posts `confirm=yes`. The server never relies on the script: a POST without `confirm=yes` does
nothing and answers a confirmation page naming the consequence, whose button posts the same fields again
with `confirm=yes`.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

SKIP_FIELDS = {"csrfmiddlewaretoken", "confirm"}


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirm") == "yes"


def confirmation_page(request: HttpRequest, *, title: str, consequence: str, action_label: str,
                      cancel_url: str) -> HttpResponse:
    fields = [(k, v) for k in request.POST for v in request.POST.getlist(k) if k not in SKIP_FIELDS]
    return render(request, "drift/confirm.html", {
        "title": title, "consequence": consequence, "action_label": action_label, "cancel_url": cancel_url,
        "fields": fields, "action_url": request.get_full_path(),
    })
