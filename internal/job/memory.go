package job

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Memory is a Store in memory, for tests and as the reference behaviour
// the durable stores are checked against. The zero value is ready to use.
type Memory struct {
	mu      sync.Mutex
	jobs    map[string]Job
	deleted map[string]bool // tombstones (they do not expire here)
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, j Job) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs == nil {
		m.jobs = map[string]Job{}
	}
	if _, ok := m.jobs[j.ID]; ok || m.deleted[j.ID] {
		return false, nil
	}
	m.jobs[j.ID] = clone(j)
	return true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if m.deleted[id] {
		return Job{}, ErrDeleted
	}
	if !ok {
		return Job{}, ErrNotFound
	}
	return clone(j), nil
}

// Advance implements Store.
func (m *Memory) Advance(_ context.Context, id string, u Update) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if m.deleted[id] {
		return false, ErrDeleted
	}
	if !ok {
		return false, ErrNotFound
	}
	next, applied := Apply(j, u)
	if applied {
		m.jobs[id] = next
	}
	return applied, nil
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, id string, r Request) (Job, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if m.deleted[id] {
		return Job{}, false, ErrDeleted
	}
	if !ok {
		return Job{}, false, ErrNotFound
	}
	next, held := Claim(j, r)
	if held {
		m.jobs[id] = next
	}
	return clone(next), held, nil
}

// List implements Store. The cursor is the id of the last job returned.
func (m *Memory) List(_ context.Context, owner string, limit int, cursor string) ([]Job, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []Job
	for _, j := range m.jobs {
		if j.Owner == owner {
			all = append(all, j)
		}
	}
	SortNewestFirst(all)
	start := 0
	if cursor != "" {
		for i, j := range all {
			if j.ID == cursor {
				start = i + 1
				break
			}
		}
	}
	all = all[start:]
	next := ""
	if limit > 0 && len(all) > limit {
		all = all[:limit]
		next = all[limit-1].ID
	}
	out := make([]Job, len(all))
	for i, j := range all {
		out[i] = clone(j)
	}
	return out, next, nil
}

// Unfinished implements Store.
func (m *Memory) Unfinished(_ context.Context, before time.Time) ([]Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Job
	for _, j := range m.jobs {
		if !j.Status.Terminal() && j.UpdatedAt.Before(before) {
			out = append(out, clone(j))
		}
	}
	SortNewestFirst(out)
	return out, nil
}

// Delete implements Store: the record goes, a tombstone stays.
func (m *Memory) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.jobs, id)
	if m.deleted == nil {
		m.deleted = map[string]bool{}
	}
	m.deleted[id] = true
	return nil
}

// SortNewestFirst orders jobs by creation time, newest first, ties by id
// (descending) so pages are stable.
func SortNewestFirst(js []Job) {
	sort.Slice(js, func(a, b int) bool {
		if !js[a].CreatedAt.Equal(js[b].CreatedAt) {
			return js[a].CreatedAt.After(js[b].CreatedAt)
		}
		return js[a].ID > js[b].ID
	})
}

func clone(j Job) Job {
	if j.Stages != nil {
		s := make(map[Status]time.Time, len(j.Stages))
		for k, v := range j.Stages {
			s[k] = v
		}
		j.Stages = s
	}
	if j.Request != nil {
		r := *j.Request
		if r.Started != nil {
			st := *r.Started
			r.Started = &st
		}
		j.Request = &r
	}
	j.Organs = append([]Organ(nil), j.Organs...)
	j.Artifacts = append([]Artifact(nil), j.Artifacts...)
	if j.Usage != nil {
		u := *j.Usage
		u.StageSeconds = make(map[Status]float64, len(j.Usage.StageSeconds))
		for k, v := range j.Usage.StageSeconds {
			u.StageSeconds[k] = v
		}
		j.Usage = &u
	}
	return j
}
