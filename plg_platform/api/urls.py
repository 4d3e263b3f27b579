from django.urls import path

from plg_platform.api import events, health, segment, workspaces

urlpatterns = [
    path("api/v1/events/batch", events.EventBatchApi.as_view(), name="events-batch"),
    path("api/v1/events/", events.EventListApi.as_view(), name="events-list"),
    path("api/v1/workspace/", workspaces.CurrentWorkspaceApi.as_view(), name="workspace"),
    path("api/v1/workspace/members/", workspaces.MemberListApi.as_view(), name="members"),
    path(
        "api/v1/workspace/invitations/",
        workspaces.InvitationListApi.as_view(),
        name="invitations",
    ),
    path(
        "api/v1/workspace/invitations/<int:invitation_id>/revoke",
        workspaces.InvitationRevokeApi.as_view(),
        name="invitation-revoke",
    ),
    path(
        "api/v1/invitations/accept",
        workspaces.InvitationAcceptApi.as_view(),
        name="invitation-accept-api",
    ),
    path("api/v1/keys/", workspaces.KeyListApi.as_view(), name="keys"),
    path("api/v1/keys/<int:key_id>/revoke", workspaces.KeyRevokeApi.as_view(), name="key-revoke"),
    path("v1/batch", segment.SegmentBatchApi.as_view(), name="segment-batch"),
    path("v1/track", segment.SegmentTrackApi.as_view(), name="segment-track"),
    path("v1/identify", segment.SegmentIdentifyApi.as_view(), name="segment-identify"),
    path("v1/page", segment.SegmentPageApi.as_view(), name="segment-page"),
    path("v1/screen", segment.SegmentScreenApi.as_view(), name="segment-screen"),
    path("v1/group", segment.SegmentGroupApi.as_view(), name="segment-group"),
    path("health/", health.HealthApi.as_view(), name="health"),
]
