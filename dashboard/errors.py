"""The dashboard's exception hierarchy."""


class DashboardError(Exception):
    """Base of every error the dashboard raises on purpose."""


class UserError(DashboardError):
    """A user-management request that cannot be done (unknown user, bad name, weak password...)."""


class SearchError(DashboardError):
    """Search parameters that do not make sense (e.g. an inverted time range)."""
