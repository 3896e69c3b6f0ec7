"""Staff field page (移动展业): a decision's outcome and reasons, explained in plain words, for the account
manager sitting with the customer. Scoped like the admin: own institution only."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from jikuai.web.decorators import staff_required
from riskrules.selectors import decisions_for_staff


@staff_required
def decision_detail(request, decision_id: int):
    if not request.user.has_perm("riskrules.view_decisionrecord"):
        raise PermissionDenied
    record = get_object_or_404(decisions_for_staff(request.user), pk=decision_id)
    return render(request, "riskrules/decision.html", {"record": record})
