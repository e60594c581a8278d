package appspec

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// resourceDoc is the skeleton ECS and Lambda AppSpecs share: a version, one
// resource of the platform's type, and optional hooks.
type resourceDoc struct {
	name     string // the resource's logical name
	props    *yaml.Node
	propPath string
	hooks    *field
}

// parseResourceDoc reads that skeleton. kind names the AppSpec in messages
// ("an ECS", "a Lambda"); resourceType is the one Type it must hold.
// Top-level keys are matched without case: the user guide writes both
// Resources and resources.
func parseResourceDoc(content []byte, kind, resourceType string) (*resourceDoc, error) {
	root, err := load(content)
	if err != nil {
		return nil, err
	}
	fs, err := fields(root, "", true)
	if err != nil {
		return nil, err
	}
	var version, resources, hooks *field
	for i := range fs {
		f := &fs[i]
		switch strings.ToLower(f.key) {
		case "version":
			version = f
		case "resources":
			resources = f
		case "hooks":
			hooks = f
		default:
			return nil, errAt(f.kn, f.path, "unknown key; %s AppSpec has only version, Resources and Hooks", kind)
		}
	}
	if version == nil {
		return nil, errAt(root, "version", "missing; an AppSpec must say version: 0.0")
	}
	if err := versionNode(version.val, version.path); err != nil {
		return nil, err
	}
	if resources == nil {
		return nil, errAt(root, "Resources", "missing; %s AppSpec must list the %s to deploy", kind, resourceType)
	}
	name, props, ppath, err := resourceNode(resources.val, resources.path, resourceType)
	if err != nil {
		return nil, err
	}
	return &resourceDoc{name: name, props: props, propPath: ppath, hooks: hooks}, nil
}

// parseHooks reads the hooks section, if there is one, allowing events.
func (d *resourceDoc) parseHooks(events []string, platform string) ([]Hook, error) {
	if d.hooks == nil {
		return nil, nil
	}
	return parseFunctionHooks(d.hooks.val, d.hooks.path, events, platform)
}
