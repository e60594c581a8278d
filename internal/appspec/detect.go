package appspec

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Kind is the compute platform an AppSpec is written for; its String is the
// computePlatform value CodeDeploy uses.
type Kind int

const (
	KindUnknown Kind = iota
	KindServer
	KindECS
	KindLambda
)

func (k Kind) String() string {
	switch k {
	case KindServer:
		return "Server"
	case KindECS:
		return "ECS"
	case KindLambda:
		return "Lambda"
	}
	return "Unknown"
}

// Detect tells which kind of AppSpec content is, without validating it, so
// that a deployment of (say) a Lambda AppSpec to an ECS group can be refused
// as a revision for another compute platform rather than with a confusing
// parse error. An os key means Server; otherwise the resource Type decides
// for ECS and Lambda, and files or permissions keys or a hooks mapping mean
// Server.
func Detect(content []byte) (Kind, error) {
	root, err := load(content)
	if err != nil {
		return KindUnknown, err
	}
	var resources, hooks *yaml.Node
	server := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "os":
			// Only the Server AppSpec has os (and requires it), so it decides
			// even if other keys look like another kind's.
			return KindServer, nil
		case "files", "permissions", "file_exists_behavior":
			server = true
		}
		switch strings.ToLower(k.Value) {
		case "resources":
			resources = v
		case "hooks":
			hooks = v
		}
	}
	if resources != nil && resources.Kind == yaml.SequenceNode {
		for _, item := range resources.Content {
			if item.Kind != yaml.MappingNode || len(item.Content) < 2 {
				continue
			}
			body := item.Content[1]
			if body.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(body.Content); j += 2 {
				if !strings.EqualFold(body.Content[j].Value, "type") {
					continue
				}
				switch strings.TrimSpace(body.Content[j+1].Value) {
				case typeECSService:
					return KindECS, nil
				case typeLambdaFunction:
					return KindLambda, nil
				}
				return KindUnknown, errAt(body.Content[j+1], "Resources[0]", "resource Type %q is neither %s nor %s",
					body.Content[j+1].Value, typeECSService, typeLambdaFunction)
			}
		}
	}
	if server || (hooks != nil && hooks.Kind == yaml.MappingNode) {
		return KindServer, nil
	}
	return KindUnknown, errAt(root, "", "cannot tell the compute platform: no Resources with a Type (ECS or Lambda) and no os (EC2/on-premises)")
}
