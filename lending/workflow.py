"""Origination workflow between the steps each service owns (授信/用信 流程衔接), driven by bus events so
that each step commits on its own and a failed step is retried by the bus, never half-done:

* ``lending.application_decided`` (automatic decision or manual review) with outcome approved → the
  contract is generated (借款合同 for a one-off loan, 授信额度合同 for a line) and the application waits
  for the customer's signature (approved → contract_pending);
* ``lending.contract_signed`` → the application is fulfilled: a line-type application opens its credit
  line (signed → active); a one-off loan is created and disbursed through core banking (signed →
  disbursed). A core-banking failure leaves the application signed; the bus retries the handler with
  back-off and staff see the failed event in the admin.

Every step is idempotent (a repeated event finds the work done and returns it).
"""

import logging

from lending.models import ApplicationState, LoanApplication, ProductKind

logger = logging.getLogger(__name__)


def prepare_contract(*, application_id: int):
    from lending.contracts.services import contract_prepare_for_application

    state = LoanApplication.objects.filter(pk=application_id).values_list("state", flat=True).first()
    if state not in (ApplicationState.APPROVED, ApplicationState.CONTRACT_PENDING):
        return None  # cancelled or expired meanwhile: nothing to sign
    return contract_prepare_for_application(application_id=application_id)


def fulfil(*, application_id: int):
    """A signed application becomes an active credit line or a disbursed loan."""
    application = LoanApplication.objects.filter(pk=application_id).only("id", "kind", "state").first()
    if application is None:
        return None
    if application.kind == ProductKind.LINE:
        from lending.services.lines import credit_line_open_for_application

        return credit_line_open_for_application(application_id=application_id)
    from lending.services.origination import application_disburse

    return application_disburse(application_id=application_id)
