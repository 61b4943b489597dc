"""The emulator's small in-memory Asana: workspaces, teams, portfolios, projects, tasks, stories, users.

Changes made through the REST routes return `Occurrence`s: an Asana-shaped compact event plus the
gids the event propagates to (the resource, its containers, and for added/removed the parent), taken
at the moment of the change so that a deleted task or a removed project still reaches the webhooks
that watched it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Entity", "Occurrence", "Project", "Story", "Task", "World"]

_E = TypeVar("_E", bound="Entity")


@dataclass(kw_only=True, eq=False)
class Entity:
    """Any object in the world: enough to name it in events and webhook records."""

    gid: str
    resource_type: str
    name: str
    resource_subtype: str | None = None
    workspace_gid: str | None = None
    created_at: str = ""

    def compact(self) -> dict[str, Any]:
        """`{gid, resource_type, name}`, Asana's compact form."""
        return {"gid": self.gid, "resource_type": self.resource_type, "name": self.name}

    def reference(self) -> dict[str, Any]:
        """The id-only form events carry: gid, resource_type and, when it has one, resource_subtype."""
        ref: dict[str, Any] = {"gid": self.gid, "resource_type": self.resource_type}
        if self.resource_subtype is not None:
            ref["resource_subtype"] = self.resource_subtype
        return ref


@dataclass(kw_only=True, eq=False)
class Project(Entity):
    """A project; it may belong to a team."""

    team_gid: str | None = None


@dataclass(kw_only=True, eq=False)
class Task(Entity):
    """A task in zero or more projects."""

    notes: str = ""
    completed: bool = False
    assignee_gid: str | None = None
    due_on: str | None = None
    project_gids: list[str] = field(default_factory=list)
    modified_at: str = ""


@dataclass(kw_only=True, eq=False)
class Story(Entity):
    """A comment on a task."""

    text: str
    task_gid: str
    author_gid: str


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    """One event and the gids whose webhooks may receive it."""

    event: dict[str, Any]
    scopes: frozenset[str]


# Fields a task update may change; the rest of a PUT body is ignored, as Asana ignores read-only keys.
_TASK_FIELDS = ("name", "notes", "completed", "assignee", "due_on")


class World:
    """The seeded objects, with the mutations the REST routes perform.

    Attributes:
        workspace_gid: The one seeded workspace.
        user_gid: The authenticated user ("me").
        team_gid: A team in the workspace.
        portfolio_gid: A portfolio in the workspace.
        project_gid: A project in the team, holding the seeded tasks.
        other_project_gid: A second, empty project.
        task_gids: The tasks seeded in `project_gid`.
    """

    def __init__(self, *, now: Callable[[], str], seed: bool = True) -> None:
        self._now = now
        self._next_gid = 1_100_000_000_000_001
        self._objects: dict[str, Entity] = {}
        self.workspace_gid = ""
        self.user_gid = ""
        self.team_gid = ""
        self.portfolio_gid = ""
        self.project_gid = ""
        self.other_project_gid = ""
        self.task_gids: tuple[str, ...] = ()
        if seed:
            self._seed()

    # -- reading -------------------------------------------------------------------------------

    def new_gid(self) -> str:
        """A fresh 16-digit gid (sequential, so tests are reproducible)."""
        gid = str(self._next_gid)
        self._next_gid += 1
        return gid

    def get(self, gid: str) -> Entity | None:
        """The object with this gid, or None."""
        return self._objects.get(gid)

    def of_type(self, resource_type: str) -> list[Entity]:
        """Every object of one type, in creation order."""
        return [obj for obj in self._objects.values() if obj.resource_type == resource_type]

    def containers(self, gid: str) -> list[str]:
        """The gids an event on `gid` propagates up to (not including `gid` itself)."""
        obj = self._objects.get(gid)
        chain: list[str] = []
        if isinstance(obj, Story):
            chain.append(obj.task_gid)
            chain.extend(self.containers(obj.task_gid))
        elif isinstance(obj, Task):
            chain.extend(obj.project_gids)
        elif isinstance(obj, Project) and obj.team_gid:
            chain.append(obj.team_gid)
        if obj is not None and obj.workspace_gid and obj.workspace_gid not in chain:
            chain.append(obj.workspace_gid)
        return chain

    def scopes_of(self, event: Mapping[str, Any]) -> frozenset[str]:
        """Where a raw event propagates: its resource, its parent, and their containers.

        Tolerates odd events (missing or null resource/parent, unknown gids).
        """
        gids: set[str] = set()
        for key in ("resource", "parent"):
            ref = event.get(key)
            gid = ref.get("gid") if isinstance(ref, Mapping) else None
            if isinstance(gid, str):
                gids.add(gid)
                gids.update(self.containers(gid))
        return frozenset(gids)

    def user_record(self, gid: str) -> dict[str, Any]:
        """A user's full record, listing the workspaces."""
        user = self._objects[gid]
        return {
            **user.compact(),
            "email": f"{user.name.lower().replace(' ', '.')}@example.test",
            "workspaces": [ws.compact() for ws in self.of_type("workspace")],
        }

    def project_record(self, project: Project) -> dict[str, Any]:
        """A project's full record."""
        team = self._objects.get(project.team_gid) if project.team_gid else None
        return {
            **project.compact(),
            "created_at": project.created_at,
            "workspace": self._compact_of(project.workspace_gid),
            "team": team.compact() if team else None,
        }

    def task_record(self, task: Task) -> dict[str, Any]:
        """A task's full record."""
        return {
            **task.compact(),
            "resource_subtype": task.resource_subtype,
            "created_at": task.created_at,
            "modified_at": task.modified_at,
            "notes": task.notes,
            "completed": task.completed,
            "due_on": task.due_on,
            "assignee": self._compact_of(task.assignee_gid),
            "projects": [self._objects[gid].compact() for gid in task.project_gids],
            "workspace": self._compact_of(task.workspace_gid),
        }

    def story_record(self, story: Story) -> dict[str, Any]:
        """A comment's full record."""
        return {
            "gid": story.gid,
            "resource_type": "story",
            "resource_subtype": story.resource_subtype,
            "type": "comment",
            "created_at": story.created_at,
            "text": story.text,
            "created_by": self._compact_of(story.author_gid),
            "target": self._compact_of(story.task_gid),
        }

    # -- changing ------------------------------------------------------------------------------

    def create_project(
        self, *, name: str, workspace_gid: str, team_gid: str | None
    ) -> tuple[Project, list[Occurrence]]:
        """Create a project; Asana reports it `added` to its team (or workspace)."""
        project = self._add(
            Project(
                gid=self.new_gid(),
                resource_type="project",
                name=name,
                workspace_gid=workspace_gid,
                team_gid=team_gid,
                created_at=self._now(),
            )
        )
        parent = team_gid or workspace_gid
        return project, [self._occurrence(project, "added", parent=parent)]

    def create_task(
        self,
        *,
        name: str,
        workspace_gid: str,
        project_gids: Iterable[str] = (),
        notes: str = "",
        assignee_gid: str | None = None,
    ) -> tuple[Task, list[Occurrence]]:
        """Create a task; it is `added` to each of its projects (or to nothing, without one)."""
        stamp = self._now()
        task = self._add(
            Task(
                gid=self.new_gid(),
                resource_type="task",
                resource_subtype="default_task",
                name=name,
                workspace_gid=workspace_gid,
                project_gids=list(dict.fromkeys(project_gids)),
                notes=notes,
                assignee_gid=assignee_gid,
                created_at=stamp,
                modified_at=stamp,
            )
        )
        if not task.project_gids:
            return task, [self._occurrence(task, "added", parent=None)]
        return task, [self._occurrence(task, "added", parent=gid) for gid in task.project_gids]

    def update_task(self, task: Task, changes: Mapping[str, Any]) -> list[Occurrence]:
        """Apply known fields; each field whose value really changes yields one `changed` event."""
        occurrences: list[Occurrence] = []
        for key in _TASK_FIELDS:
            if key not in changes:
                continue
            value = changes[key]
            attribute = "assignee_gid" if key == "assignee" else key
            if getattr(task, attribute) == value:
                continue
            setattr(task, attribute, value)
            change: dict[str, Any] = {"field": key, "action": "changed"}
            if key == "assignee" and value is not None:
                # Asana includes new_value only when the value is a resource, and only as a reference.
                change["new_value"] = {"gid": value, "resource_type": "user"}
            occurrences.append(self._occurrence(task, "changed", parent=None, change=change))
        if occurrences:
            task.modified_at = self._now()
        return occurrences

    def delete_task(self, task: Task) -> list[Occurrence]:
        """Delete a task and its comments; the event reaches the projects it was in."""
        occurrence = self._occurrence(task, "deleted", parent=None)
        for story in [obj for obj in self._objects.values() if isinstance(obj, Story)]:
            if story.task_gid == task.gid:
                del self._objects[story.gid]
        del self._objects[task.gid]
        return [occurrence]

    def add_task_to_project(self, task: Task, project: Project) -> list[Occurrence]:
        """Put a task in a project (no event when it is already there)."""
        if project.gid in task.project_gids:
            return []
        task.project_gids.append(project.gid)
        return [self._occurrence(task, "added", parent=project.gid)]

    def remove_task_from_project(self, task: Task, project: Project) -> list[Occurrence]:
        """Take a task out of a project (no event when it was not there)."""
        if project.gid not in task.project_gids:
            return []
        occurrence = self._occurrence(task, "removed", parent=project.gid)
        task.project_gids.remove(project.gid)
        return [occurrence]

    def add_comment(self, task: Task, *, text: str, author_gid: str) -> tuple[Story, list[Occurrence]]:
        """Comment on a task: a story `added` with the task as parent."""
        story = self._add(
            Story(
                gid=self.new_gid(),
                resource_type="story",
                resource_subtype="comment_added",
                name=text[:100],
                text=text,
                task_gid=task.gid,
                author_gid=author_gid,
                workspace_gid=task.workspace_gid,
                created_at=self._now(),
            )
        )
        return story, [self._occurrence(story, "added", parent=task.gid)]

    # -- internals -----------------------------------------------------------------------------

    def _add(self, obj: _E) -> _E:
        self._objects[obj.gid] = obj
        return obj

    def _compact_of(self, gid: str | None) -> dict[str, Any] | None:
        obj = self._objects.get(gid) if gid else None
        return obj.compact() if obj else None

    def _occurrence(
        self, obj: Entity, action: str, *, parent: str | None, change: dict[str, Any] | None = None
    ) -> Occurrence:
        parent_obj = self._objects.get(parent) if parent else None
        event: dict[str, Any] = {
            "user": {"gid": self.user_gid, "resource_type": "user"},
            "created_at": self._now(),
            "action": action,
            "resource": obj.reference(),
            "parent": parent_obj.reference() if parent_obj else None,
        }
        if change is not None:
            event["change"] = change
        scopes = {obj.gid, *self.containers(obj.gid)}
        if parent:
            scopes.update([parent, *self.containers(parent)])
        return Occurrence(event=event, scopes=frozenset(scopes))

    def _seed(self) -> None:
        stamp = self._now()
        workspace = self._add(
            Entity(gid=self.new_gid(), resource_type="workspace", name="Acme Workspace", created_at=stamp)
        )
        self.workspace_gid = workspace.gid
        self.user_gid = self._add(
            Entity(
                gid=self.new_gid(),
                resource_type="user",
                name="Pat Example",
                workspace_gid=workspace.gid,
                created_at=stamp,
            )
        ).gid
        self.team_gid = self._add(
            Entity(
                gid=self.new_gid(),
                resource_type="team",
                name="Engineering",
                workspace_gid=workspace.gid,
                created_at=stamp,
            )
        ).gid
        self.portfolio_gid = self._add(
            Entity(
                gid=self.new_gid(),
                resource_type="portfolio",
                name="Roadmap",
                workspace_gid=workspace.gid,
                created_at=stamp,
            )
        ).gid
        self.project_gid = self.create_project(
            name="Launch", workspace_gid=workspace.gid, team_gid=self.team_gid
        )[0].gid
        self.other_project_gid = self.create_project(
            name="Backlog", workspace_gid=workspace.gid, team_gid=None
        )[0].gid
        self.task_gids = tuple(
            self.create_task(name=name, workspace_gid=workspace.gid, project_gids=[self.project_gid])[0].gid
            for name in ("Draft the plan", "Review the plan")
        )
