"""A real Kubernetes control plane on loopback, built from its Go modules.

kube-apiserver, kube-controller-manager, kube-scheduler and etcd are built once per machine
(`build`), started as envtest does (`cluster`), and completed by stand-ins for what cannot run
here, which talk to the API server only through its API: a node agent in place of a kubelet
(`node`), a storage provisioner (`storage`) and a Dynamo operator (`operator`).
`./run cluster up|down` and the tests' fixture use the same code.
"""
