"""factory_boy factories for the platform's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from plg_platform.models import Membership, Person, Role, Workspace


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("correct-horse-battery")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    workspace = factory.SubFactory(WorkspaceFactory)
    distinct_id = factory.Sequence(lambda n: f"u{n}")
    properties = factory.LazyFunction(dict)
