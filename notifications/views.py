"""Pages of the notifications app: the confirm page of a decide-from-the-message link, and the
preferences page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workflows import teams
from workflows.engine.errors import ConflictError, DecisionError, ExpiredError
from workflows.models import Requirement

from . import links, selectors, services
from .forms import PreferenceForm
from .models import Preference


@require_http_methods(["GET", "POST"])
def act(request, requirement_id, token: str):
    """GET: what the link would do, and a button that does it (a GET never decides: link
    scanners and previews fetch URLs). POST (CSRF): the decision, as the link's own user."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        link = links.check(token, user=request.user, requirement_id=requirement_id)
        if request.method == "GET":
            return render(request, "notifications/act.html", {"link": link, "req": link.requirement})
        requirement = services.requirement_resolve_by_link(
            requirement_id=requirement_id, token=token, user=request.user
        )
    except links.LinkRefused as exc:
        return _refused(request, exc.reason, exc.status, exc.requirement, exc.message)
    except teams.SeparationOfDutiesError as exc:  # the rules changed between the check and the decision
        return _refused(request, "team", 403, Requirement.objects.filter(id=requirement_id).first(), str(exc))
    except teams.TeamConflict as exc:
        return _refused(request, "team", 409, Requirement.objects.filter(id=requirement_id).first(), str(exc))
    except Requirement.DoesNotExist:  # no longer assigned to this user
        return _refused(request, "not_yours", 403, None)
    except ExpiredError:
        return _refused(request, "stale", 410, Requirement.objects.filter(id=requirement_id).first())
    except (ConflictError, DecisionError):
        return _refused(request, "stale", 410, Requirement.objects.filter(id=requirement_id).first())
    messages.success(request, f"Decided ({link.label}): “{requirement.step_name}” in {requirement.workflow_name}.")
    return redirect("approvals:decide", requirement_id=requirement.id)  # what was decided, and the run


def _refused(request, reason: str, status: int, requirement, message: str = ""):
    context = {"reason": reason, "req": requirement, "message": message}
    return render(request, "notifications/act_refused.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    """``/settings/notifications/``: how the user hears of work."""
    current = Preference.objects.filter(user=request.user).first()
    if request.method == "GET":
        initial = None if current else _channels_initial(request.user)
        return render(
            request, "notifications/preferences.html", {"form": PreferenceForm(instance=current, initial=initial)}
        )
    form = PreferenceForm(request.POST, instance=current)
    if not form.is_valid():
        return render(request, "notifications/preferences.html", {"form": form}, status=400)
    fields = PreferenceForm.Meta.fields
    services.preference_update(user=request.user, values={name: form.cleaned_data[name] for name in fields})
    messages.success(request, "Notification preferences saved.")
    return redirect("notifications:preferences")


def _channels_initial(user) -> dict:
    channels = selectors.channels_of(user)  # the group defaults they have until they choose
    return {"email": channels.email, "chat": channels.chat, "browser": channels.browser}
