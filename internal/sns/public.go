package sns

import (
	"net/http"
	"strings"
)

// PublicHandler serves the unsigned GETs that delivered messages point
// to, under PublicPrefix (the prefix may already be stripped):
//
//	/sns/SimpleNotificationService-<id>.pem   the signing certificate (SigningCertURL)
//	/sns/confirm?TopicArn=...&Token=...       confirms a subscription (SubscribeURL)
//	/sns/unsubscribe?SubscriptionArn=...      unsubscribes (UnsubscribeURL)
//
// The links answer in the Query protocol's XML, as SNS's do. They carry no
// Version parameter, so the AWS router never takes them for signed calls.
func (s *Service) PublicHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(PublicPrefix, "/"))
		name = strings.TrimPrefix(name, "/")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var action string
		switch name {
		case s.signer.certName:
			w.Header().Set("Content-Type", "application/x-x509-ca-cert")
			w.Write(s.signer.certPEM)
			return
		case "confirm":
			action = "ConfirmSubscription"
		case "unsubscribe":
			action = "Unsubscribe"
		default:
			http.NotFound(w, r)
			return
		}
		// The path decides the action, whatever the query says; Version is
		// dropped so that a link cannot name another API version.
		q := r.URL.Query()
		q.Set("Action", action)
		q.Del("Version")
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		r2.Body = http.NoBody
		s.pub.ServeHTTP(w, r2)
	})
}
