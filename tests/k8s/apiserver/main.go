// A CRD-only Kubernetes API server for hybridmon's integration tests.
//
// It wraps k8s.io/apiextensions-apiserver (Debian's golang-k8s-apiextensions-apiserver-dev) so tests can
// create CustomResourceDefinitions and custom resources (ServiceMonitor, PrometheusRule, Prometheus) with
// the real OpenAPI validation, pruning, server-side apply and dry-run of a cluster, without any core API.
//
// Differences from the stock apiextensions-apiserver command, each needed to run without a cluster:
//   - The configuration is built here: the stock options.Config() dereferences a shared informer factory that
//     only exists with a core API. Services cannot be resolved (conversion webhooks through a Service fail).
//   - No delegated authentication: every request is a member of system:masters; authorization allows all;
//     admission and API priority-and-fairness are off. Listen on 127.0.0.1 only.
//   - Discovery is switched back on after Complete(), and the groups of Established CRDs are kept in the
//     unaggregated /apis list (the Python client's discovery reads it).
//   - Debian's go-restful is older than these k8s libraries expect: "/apis/" and "/version/" 404 there, so a
//     wrapper strips trailing slashes.
//   - An empty legacy API (/api, /api/v1) is served so clients that search every group find nothing there
//     instead of failing.
//
// Build (see tests/k8s/build_apiserver.sh):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 go build
//
// Run:
//
//	apiserver --etcd-servers=http://127.0.0.1:2379 --bind-address=127.0.0.1 --secure-port=6443 --cert-dir=DIR
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	noopoteltrace "go.opentelemetry.io/otel/trace/noop"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/endpoints/discovery"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/cli"
	netutils "k8s.io/utils/net"
)

// everyoneIsAdmin authenticates every request as a cluster administrator.
var everyoneIsAdmin = authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
	return &authenticator.Response{User: &user.DefaultInfo{
		Name:   "hybridmon-test",
		Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated},
	}}, true, nil
})

// noServices resolves no Service: there is no core API to look them up in.
type noServices struct{}

func (noServices) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	return nil, fmt.Errorf("service %s/%s:%d cannot be resolved: this test server has no core API", namespace, name, port)
}

// stripTrailingSlash maps "/apis/" to "/apis" (and so on) before routing.
func stripTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			if r.URL.Path == "" {
				r.URL.Path = "/"
			}
			r.URL.RawPath = ""
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes a fixed JSON document.
func writeJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// groupLister is the subset of a CRD lister the discovery sync needs.
type groupLister interface {
	List(selector labels.Selector) ([]*apiextensionsv1.CustomResourceDefinition, error)
}

// syncGroup puts API group `group` into the /apis list when an Established CRD serves it, else removes it.
func syncGroup(lister groupLister, manager discovery.GroupManager, group string) {
	crds, err := lister.List(labels.Everything())
	if err != nil {
		fmt.Fprintf(os.Stderr, "listing CRDs for discovery of %q: %v\n", group, err)
		return
	}
	served := map[string]bool{}
	storage := ""
	for _, crd := range crds {
		if crd.Spec.Group != group || !isEstablished(crd) || crd.DeletionTimestamp != nil {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Served {
				served[v.Name] = true
			}
			if v.Storage && storage == "" {
				storage = v.Name
			}
		}
	}
	if len(served) == 0 {
		manager.RemoveGroup(group)
		return
	}
	names := make([]string, 0, len(served))
	for v := range served {
		names = append(names, v)
	}
	// Newest first, as kube-apiserver orders versions (v2 > v1 > v1beta1 > v1alpha1).
	sort.Slice(names, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(names[i], names[j]) > 0 })
	apiGroup := metav1.APIGroup{Name: group}
	for _, v := range names {
		apiGroup.Versions = append(apiGroup.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
	}
	apiGroup.PreferredVersion = apiGroup.Versions[0]
	if served[storage] {
		apiGroup.PreferredVersion = metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + storage, Version: storage}
	}
	manager.AddGroup(apiGroup)
}

func groupOf(obj interface{}) string {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
		return crd.Spec.Group
	}
	return ""
}

func run(cmd *cobra.Command, o *options.CustomResourceDefinitionsServerOptions) error {
	if err := o.Complete(); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	ss := o.RecommendedOptions.SecureServing
	if err := ss.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return fmt.Errorf("creating self-signed certificates: %w", err)
	}

	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	if err := o.ServerRunOptions.ApplyTo(&serverConfig.Config); err != nil {
		return err
	}
	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		return err
	}
	if err := o.APIEnablement.ApplyTo(&serverConfig.Config, apiserver.DefaultAPIResourceConfigSource(), apiserver.Scheme); err != nil {
		return err
	}
	serverConfig.Authentication.Authenticator = everyoneIsAdmin
	serverConfig.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	serverConfig.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
		return stripTrailingSlash(genericapiserver.DefaultBuildHandlerChain(h, c))
	}
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(
		openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(generatedopenapi.GetOpenAPIDefinitions),
		openapinamer.NewDefinitionNamer(apiserver.Scheme, scheme.Scheme))

	config := &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{
			CRDRESTOptionsGetter: options.NewCRDRESTOptionsGetter(*o.RecommendedOptions.Etcd,
				serverConfig.ResourceTransformers, serverConfig.StorageObjectCountTracker),
			ServiceResolver:     noServices{},
			AuthResolverWrapper: webhook.NewDefaultAuthenticationInfoResolverWrapper(nil, nil, serverConfig.LoopbackClientConfig, noopoteltrace.NewTracerProvider()),
		},
	}
	completed := config.Complete()
	// apiextensions turns generic discovery off because kube-apiserver serves /apis; here nobody else does.
	completed.GenericConfig.EnableDiscovery = true

	server, err := completed.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	generic := server.GenericAPIServer

	crdInformer := server.Informers.Apiextensions().V1().CustomResourceDefinitions()
	lister := crdInformer.Lister()
	onChange := func(obj interface{}) {
		if g := groupOf(obj); g != "" {
			syncGroup(lister, generic.DiscoveryGroupManager, g)
		}
	}
	if _, err := crdInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onChange,
		UpdateFunc: func(_, obj interface{}) { onChange(obj) },
		DeleteFunc: onChange,
	}); err != nil {
		return err
	}

	generic.Handler.NonGoRestfulMux.Handle("/api", writeJSON(`{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}`))
	generic.Handler.NonGoRestfulMux.Handle("/api/v1", writeJSON(`{"kind":"APIResourceList","groupVersion":"v1","resources":[]}`))

	return generic.PrepareRun().RunWithContext(cmd.Context())
}

func main() {
	o := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	ro := o.RecommendedOptions
	ro.Authentication = nil
	ro.Authorization = nil
	ro.Admission = nil
	ro.CoreAPI = nil
	ro.Features.EnablePriorityAndFairness = false
	ro.SecureServing.BindAddress = netutils.ParseIPSloppy("127.0.0.1")

	cmd := &cobra.Command{
		Use:          "hybridmon-crd-apiserver",
		Short:        "CRD-only Kubernetes API server for tests (no authentication, everything allowed)",
		SilenceUsage: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ServerRunOptions.ComponentGlobalsRegistry.Set()
		},
		RunE: func(c *cobra.Command, _ []string) error { return run(c, o) },
	}
	cmd.SetContext(genericapiserver.SetupSignalContext())
	o.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}
