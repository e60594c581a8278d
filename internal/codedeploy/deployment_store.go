package codedeploy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// Deployments are records of kindDeployment (key: id; index: app/group, so
// ListDeployments of one group is an index lookup). A group's running
// deployment is also named by a kindActive record (key: app/group), created
// with the deployment in one transaction: Put of a new record fails when one
// exists, which is how "one running deployment per group" holds even for
// two CreateDeployment calls at the same instant. The engine lists
// kindActive to find its work; the record goes away in the transaction that
// makes the deployment terminal.
const (
	kindDeployment = "codedeploy.deployment"       // key: id; index: app/group
	kindActive     = "codedeploy.activedeployment" // key: app/group; index: id
)

type activeDeployment struct {
	DeploymentID string `json:"deploymentId"`
}

// engineHooks is set once by the engine; atomic so that handlers running
// before it is set see a consistent value.
type engineHooksBox struct{ p atomic.Pointer[EngineHooks] }

// SetEngineHooks connects the engine (see EngineHooks).
func (s *Service) SetEngineHooks(h EngineHooks) { s.hooks.p.Store(&h) }

func (s *Service) notify(id string) {
	if h := s.hooks.p.Load(); h != nil && h.Notify != nil {
		h.Notify(id)
	}
}

func (s *Service) wakeTriggers() {
	if s.triggersQueued != nil {
		s.triggersQueued()
	}
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newDeploymentID is d- and 9 random upper-case letters or digits, AWS's form.
func newDeploymentID() string {
	b := make([]byte, 9)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return "d-" + string(b)
}

// Deployment returns a stored deployment, or DeploymentDoesNotExistException.
func (s *Service) Deployment(ctx context.Context, id string) (*Deployment, error) {
	var d *Deployment
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		d, _, err = loadDeployment(tx, id)
		return err
	})
	return d, err
}

func loadDeployment(tx store.Tx, id string) (*Deployment, *store.Record, error) {
	d, rec, err := store.GetJSON[Deployment](tx, kindDeployment, id)
	if isNotFound(err) {
		return nil, nil, noDeployment(id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading deployment %s: %w", id, err)
	}
	return d, rec, nil
}

// ActiveDeployments lists the ids of deployments that are not finished, one
// per deployment group at most.
func (s *Service) ActiveDeployments(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.st.View(ctx, func(tx store.Tx) error {
		recs, err := tx.List(kindActive, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, r := range recs {
			ids = append(ids, r.Index)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing active deployments: %w", err)
	}
	return ids, nil
}

// ErrUnchanged may be returned by an UpdateDeployment function to write
// nothing; UpdateDeployment then returns nil.
var ErrUnchanged = errors.New("codedeploy: deployment unchanged")

// UpdateDeployment applies fn to the stored deployment and writes it in one
// transaction, with the bookkeeping a status change brings: the group's
// lastAttemptedDeployment (and on success lastSuccessfulDeployment and
// targetRevision), and on a terminal status the end of the group's active
// deployment. fn sees the latest stored state, so requests that handlers
// wrote meanwhile are never lost.
func (s *Service) UpdateDeployment(ctx context.Context, id string, fn func(*Deployment) error) error {
	var moved bool
	err := s.st.Update(ctx, func(tx store.Tx) error {
		d, rec, err := loadDeployment(tx, id)
		if err != nil {
			return err
		}
		before := d.Status
		if err := fn(d); err != nil {
			return err
		}
		moved = d.Status != before
		return s.putDeployment(tx, rec, d, before)
	})
	if errors.Is(err, ErrUnchanged) {
		return nil
	}
	if err == nil && moved {
		s.wakeTriggers()
	}
	return err
}

// putDeployment writes d and keeps the group in step with its status.
func (s *Service) putDeployment(tx store.Tx, rec *store.Record, d *Deployment, before string) error {
	if err := store.PutJSON(tx, rec, d); err != nil {
		return fmt.Errorf("storing deployment %s: %w", d.DeploymentID, err)
	}
	if d.Status == before && rec.Version > 1 {
		return nil
	}
	if Terminal(d.Status) {
		key := groupKey(d.ApplicationName, d.DeploymentGroupName)
		a, arec, err := store.GetJSON[activeDeployment](tx, kindActive, key)
		if err == nil && a.DeploymentID == d.DeploymentID {
			if err := tx.Delete(kindActive, key, arec.Version); err != nil {
				return fmt.Errorf("ending active deployment of %s: %w", key, err)
			}
		} else if err != nil && !isNotFound(err) {
			return err
		}
	}
	g, grec, err := loadGroup(tx, d.ApplicationName, d.DeploymentGroupName)
	if err != nil {
		// The group was deleted while its deployment ran; there is nothing
		// to record on.
		if ae := awsproto.AsError(err); ae != nil {
			return nil
		}
		return err
	}
	if ev := statusEvent(before, d.Status); ev != "" {
		if err := s.queueTriggers(tx, g, d, ev); err != nil {
			return err
		}
	}
	last := &LastDeploymentInfo{DeploymentID: d.DeploymentID, Status: d.Status, CreateTime: &d.CreateTime, EndTime: d.CompleteTime}
	g.LastAttemptedDeployment = last
	if d.Status == StatusSucceeded {
		g.LastSuccessfulDeployment = last
		if d.FullRevision != nil {
			g.TargetRevision = d.FullRevision
		}
	}
	return putJSON(tx, grec, g)
}

// RollBack ends a deployment and starts its rollback in one transaction:
// fn gets the deployment and a fresh id, makes the deployment terminal and
// returns the rollback deployment (status Created), which becomes the
// group's active deployment. Because it is one transaction, a crash leaves
// either no rollback or exactly one.
func (s *Service) RollBack(ctx context.Context, id string, fn func(d *Deployment, rollbackID string) (*Deployment, error)) (string, error) {
	rid := newDeploymentID()
	err := s.st.Update(ctx, func(tx store.Tx) error {
		d, rec, err := loadDeployment(tx, id)
		if err != nil {
			return err
		}
		before := d.Status
		rb, err := fn(d, rid)
		if err != nil {
			return err
		}
		if !Terminal(d.Status) || rb == nil || rb.DeploymentID != rid {
			return fmt.Errorf("codedeploy: rollback of %s must end it and create %s", id, rid)
		}
		if err := s.putDeployment(tx, rec, d, before); err != nil {
			return err
		}
		if g, _, err := loadGroup(tx, d.ApplicationName, d.DeploymentGroupName); err == nil {
			if err := s.queueTriggers(tx, g, d, EventDeploymentRollback); err != nil {
				return err
			}
		}
		key := groupKey(d.ApplicationName, d.DeploymentGroupName)
		arec := &store.Record{Kind: kindActive, Key: key, Index: rid}
		if err := store.PutJSON(tx, arec, activeDeployment{DeploymentID: rid}); err != nil {
			return fmt.Errorf("making %s the active deployment of %s: %w", rid, key, err)
		}
		rrec := &store.Record{Kind: kindDeployment, Key: rid, Index: key}
		return s.putDeployment(tx, rrec, rb, "")
	})
	if err != nil {
		return "", err
	}
	s.wakeTriggers()
	return rid, nil
}

// moveDeployments re-files every deployment of group oldApp/oldGroup under
// newApp/newGroup, with the group's active-deployment marker, so that a
// renamed application or group keeps its history and a running deployment
// keeps its group (AWS names groups by id; cutover by name).
func moveDeployments(tx store.Tx, oldApp, oldGroup, newApp, newGroup string) error {
	oldKey, newKey := groupKey(oldApp, oldGroup), groupKey(newApp, newGroup)
	ds, recs, err := store.ListJSON[Deployment](tx, kindDeployment, store.ListOptions{Index: oldKey})
	if err != nil {
		return fmt.Errorf("listing deployments of %s: %w", oldKey, err)
	}
	for i, d := range ds {
		d.ApplicationName, d.DeploymentGroupName = newApp, newGroup
		recs[i].Index = newKey
		if err := store.PutJSON(tx, recs[i], d); err != nil {
			return fmt.Errorf("moving deployment %s to %s: %w", d.DeploymentID, newKey, err)
		}
	}
	a, arec, err := store.GetJSON[activeDeployment](tx, kindActive, oldKey)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.Delete(kindActive, oldKey, arec.Version); err != nil {
		return fmt.Errorf("moving the active deployment of %s: %w", oldKey, err)
	}
	return store.PutJSON(tx, &store.Record{Kind: kindActive, Key: newKey, Index: a.DeploymentID}, a)
}
