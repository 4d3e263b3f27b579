"""The outcomes app's models, as Django finds them: the KPI library's (``outcomes.kpis.models``)
and the OKRs' (``outcomes.okrs.models``). Code imports them from those modules."""

from outcomes.kpis.models import (
    FeatureRequest,
    KpiPeriod,
    KpiSettings,
    KpiValue,
    PqlUnit,
    ProductQualifiedLead,
    RevenuePeriod,
    _default_excluded_activity,  # migration 0002 names it as outcomes.models._default_...
)
from outcomes.okrs.models import (
    BaselineChange,
    CheckIn,
    Initiative,
    InitiativeStatus,
    KeyResult,
    Objective,
    PeriodKind,
    ValueSource,
)

__all__ = [
    "BaselineChange",
    "CheckIn",
    "FeatureRequest",
    "Initiative",
    "InitiativeStatus",
    "KeyResult",
    "KpiPeriod",
    "KpiSettings",
    "KpiValue",
    "Objective",
    "PeriodKind",
    "PqlUnit",
    "ProductQualifiedLead",
    "RevenuePeriod",
    "ValueSource",
    "_default_excluded_activity",
]
