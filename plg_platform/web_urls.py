"""Pages of the platform: sign-in, sign-out, home and onboarding, workspace switching,
members and invitations."""

from django.contrib.auth import views as auth_views
from django.urls import path

from plg_platform import member_views, views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workspace/switch", views.switch_workspace, name="switch-workspace"),
    path("workspace/members/", member_views.members, name="members-page"),
    path(
        "workspace/invitations/<int:invitation_id>/revoke",
        member_views.invitation_revoke_page,
        name="invitation-revoke-page",
    ),
    path("invitations/<str:token>/", member_views.invitation, name="invitation"),
    path("onboarding/snippet-key", views.create_snippet_key, name="snippet-key"),
    path("onboarding/sample-data", views.load_sample_data, name="sample-data"),
    path("", views.home, name="home"),
]
