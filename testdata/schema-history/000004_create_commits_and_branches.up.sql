begin;

-- Commit ids are the hex SHA-256 of the commit's serialized form.
create table commits (
    repository_id integer not null references repositories (id) on delete cascade,
    id            text not null check (id ~ '^[0-9a-f]{64}$'),
    parents       text[] not null default '{}',
    committer     text not null,
    message       text not null default '',
    metadata      jsonb not null default '{}'::jsonb,
    created_at    timestamptz not null default now(),
    primary key (repository_id, id)
);

create table branches (
    repository_id integer not null references repositories (id) on delete cascade,
    name          text not null,
    commit_id     text not null,
    primary key (repository_id, name),
    constraint branches_commit_fkey foreign key (repository_id, commit_id)
        references commits (repository_id, id)
);

create index commits_created_at_idx on commits (repository_id, created_at desc);
create index branches_commit_idx on branches (repository_id, commit_id);

commit;
