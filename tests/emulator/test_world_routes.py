"""The emulated world answers Asana's routes for users, workspaces, projects, tasks and comments."""

from __future__ import annotations

from typing import Any

import pytest

from asana_hooks.emulator import Emulator, ManualClock
from asana_hooks.emulator.world import Task, World
from tests.emulator.rest_client import Rest

pytestmark = pytest.mark.anyio


async def test_users_me_names_the_seeded_user_and_workspace(emulator: Emulator, rest: Rest) -> None:
    """GET /users/me returns "me" with its workspaces."""
    reply = await rest.call("GET", "/users/me")
    data = reply.json()["data"]
    assert data["gid"] == emulator.world.user_gid
    assert data["resource_type"] == "user"
    assert data["workspaces"] == [
        {"gid": emulator.world.workspace_gid, "resource_type": "workspace", "name": "Acme Workspace"}
    ]


async def test_workspaces_and_projects_are_listed(emulator: Emulator, rest: Rest) -> None:
    """GET /workspaces and GET /projects?workspace= list the seeded objects compactly."""
    workspaces = (await rest.call("GET", "/workspaces")).json()["data"]
    projects = (
        await rest.call("GET", "/projects", params={"workspace": emulator.world.workspace_gid})
    ).json()
    elsewhere = (await rest.call("GET", "/projects", params={"workspace": "1"})).json()
    assert [ws["gid"] for ws in workspaces] == [emulator.world.workspace_gid]
    assert [p["gid"] for p in projects["data"]] == [
        emulator.world.project_gid,
        emulator.world.other_project_gid,
    ]
    assert elsewhere["data"] == []


async def test_a_project_is_created_in_a_workspace_or_team(emulator: Emulator, rest: Rest) -> None:
    """POST /projects takes a workspace or a team (whose workspace it then joins) and can be read back."""
    in_team = await rest.call(
        "POST", "/projects", body={"data": {"name": "T", "team": emulator.world.team_gid}}
    )
    in_workspace = await rest.call(
        "POST", "/projects", body={"data": {"name": "W", "workspace": emulator.world.workspace_gid}}
    )
    assert in_team.status == in_workspace.status == 201
    read = await rest.call("GET", f"/projects/{in_team.json()['data']['gid']}")
    assert read.json()["data"]["team"]["gid"] == emulator.world.team_gid
    assert read.json()["data"]["workspace"]["gid"] == emulator.world.workspace_gid
    assert in_workspace.json()["data"]["team"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"workspace": "x"}, "name: Missing input"),
        ({"name": "P"}, "workspace: Missing input"),
        ({"name": "P", "team": "nope"}, "team: Not a recognized ID: nope"),
        ({"name": "P", "workspace": "nope"}, "workspace: Not a recognized ID: nope"),
    ],
)
async def test_invalid_project_creations_are_400(rest: Rest, data: dict[str, Any], message: str) -> None:
    """Missing names or workspaces and unknown references are refused."""
    reply = await rest.call("POST", "/projects", body={"data": data})
    assert reply.status == 400
    assert reply.error["message"] == message


async def test_a_task_is_created_read_updated_and_deleted(emulator: Emulator, rest: Rest) -> None:
    """The task routes round-trip the task's fields."""
    created = await rest.call(
        "POST",
        "/tasks",
        body={
            "data": {"name": "T", "notes": "n", "projects": [emulator.world.project_gid], "assignee": "me"}
        },
    )
    assert created.status == 201
    gid = created.json()["data"]["gid"]
    updated = await rest.call(
        "PUT", f"/tasks/{gid}", body={"data": {"completed": True, "due_on": "2024-02-01"}}
    )
    assert updated.json()["data"]["completed"] is True
    read = (await rest.call("GET", f"/tasks/{gid}")).json()["data"]
    assert read["assignee"]["gid"] == emulator.world.user_gid
    assert read["due_on"] == "2024-02-01"
    assert [project["gid"] for project in read["projects"]] == [emulator.world.project_gid]
    assert (await rest.call("DELETE", f"/tasks/{gid}")).json() == {"data": {}}


async def test_a_task_without_projects_needs_a_workspace(emulator: Emulator, rest: Rest) -> None:
    """A task in no project names its workspace; without one it is a 400."""
    ok = await rest.call(
        "POST", "/tasks", body={"data": {"name": "T", "workspace": emulator.world.workspace_gid}}
    )
    refused = await rest.call("POST", "/tasks", body={"data": {"name": "T"}})
    assert ok.json()["data"]["projects"] == []
    assert refused.status == 400


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"projects": "p"}, "projects: Value is not an array"),
        ({"projects": ["nope"]}, "project: Not a recognized ID: nope"),
        ({"workspace": "W", "assignee": "nobody"}, "user: Not a recognized ID: nobody"),
    ],
)
async def test_invalid_task_creations_are_400(
    emulator: Emulator, rest: Rest, data: dict[str, Any], message: str
) -> None:
    """Malformed or unknown references in a task body are refused."""
    if data.get("workspace") == "W":
        data = {**data, "workspace": emulator.world.workspace_gid}
    reply = await rest.call("POST", "/tasks", body={"data": data})
    assert reply.status == 400
    assert reply.error["message"] == message


async def test_task_updates_validate_completed_and_clear_the_assignee(emulator: Emulator, rest: Rest) -> None:
    """completed must be a boolean; assignee null unassigns."""
    task = emulator.world.task_gids[0]
    refused = await rest.call("PUT", f"/tasks/{task}", body={"data": {"completed": "yes"}})
    await rest.call("PUT", f"/tasks/{task}", body={"data": {"assignee": emulator.world.user_gid}})
    cleared = await rest.call("PUT", f"/tasks/{task}", body={"data": {"assignee": None}})
    assert refused.status == 400
    assert cleared.json()["data"]["assignee"] is None


async def test_unknown_tasks_and_projects_are_404(rest: Rest) -> None:
    """Paths naming unknown objects answer 404."""
    for method, path in (
        ("GET", "/tasks/1"),
        ("PUT", "/tasks/1"),
        ("DELETE", "/tasks/1"),
        ("POST", "/tasks/1/stories"),
        ("GET", "/projects/1"),
    ):
        reply = await rest.call(method, path, body={"data": {}} if method in ("PUT", "POST") else None)
        assert reply.status == 404, (method, path)


async def test_a_comment_is_returned_as_a_story(emulator: Emulator, rest: Rest) -> None:
    """POST /tasks/{gid}/stories answers the story with its task as target; text is required."""
    task = emulator.world.task_gids[1]
    story = await rest.call("POST", f"/tasks/{task}/stories", body={"data": {"text": "Looks good"}})
    missing = await rest.call("POST", f"/tasks/{task}/stories", body={"data": {}})
    data = story.json()["data"]
    assert (data["resource_type"], data["type"], data["text"]) == ("story", "comment", "Looks good")
    assert data["target"]["gid"] == task
    assert data["created_by"]["gid"] == emulator.world.user_gid
    assert missing.status == 400


async def test_deleting_a_task_deletes_its_comments(emulator: Emulator, rest: Rest) -> None:
    """A deleted task takes its stories with it, and only its own."""
    task, other = emulator.world.task_gids
    story = await rest.call("POST", f"/tasks/{task}/stories", body={"data": {"text": "x"}})
    kept = await rest.call("POST", f"/tasks/{other}/stories", body={"data": {"text": "y"}})
    await rest.call("DELETE", f"/tasks/{task}")
    assert emulator.world.get(story.json()["data"]["gid"]) is None
    assert emulator.world.get(kept.json()["data"]["gid"]) is not None


def test_an_unseeded_world_is_empty_and_scopes_tolerate_odd_events(clock: ManualClock) -> None:
    """seed=False creates nothing; scopes_of survives null or malformed resources."""
    world = World(now=lambda: "2024-01-01T00:00:00.000Z", seed=False)
    assert world.of_type("workspace") == []
    assert world.scopes_of({"resource": None, "parent": "nope"}) == frozenset()
    assert world.scopes_of({"resource": {"gid": 5}}) == frozenset()
    assert world.scopes_of({"resource": {"gid": "unknown"}}) == {"unknown"}


def test_a_story_propagates_through_its_task_to_projects_and_workspace() -> None:
    """The containers of a comment are its task, the task's projects and the workspace."""
    world = World(now=lambda: "2024-01-01T00:00:00.000Z")
    task = world.get(world.task_gids[0])
    assert isinstance(task, Task)
    story, _ = world.add_comment(task, text="hi", author_gid=world.user_gid)
    assert world.containers(story.gid) == [task.gid, world.project_gid, world.workspace_gid]
    project = world.get(world.project_gid)
    assert project is not None
    assert world.containers(project.gid) == [world.team_gid, world.workspace_gid]
