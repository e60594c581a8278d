package fidelity

import "testing"

// ecsScript drives cutover's ECS subset: a cluster, a task definition, an
// EXTERNAL service whose task sets CodeDeploy-style blue/green shifts
// between, and tasks. Operations outside the subset are reported by
// runFidelity as not implemented.
var ecsScript = []Step{
	{Op: "CreateCluster", Body: `{"clusterName":"fid-cluster","tags":[{"key":"team","value":"blue"}]}`},
	{Op: "DescribeClusters", Body: `{"clusters":["fid-cluster"]}`},
	{Op: "ListClusters", Body: `{}`},

	{Op: "RegisterTaskDefinition", Body: `{"family":"fid-web","networkMode":"bridge","cpu":"256","memory":"512",
		"containerDefinitions":[{"name":"web","image":"fid/web:1","essential":true,"memory":256,
			"portMappings":[{"containerPort":8080,"hostPort":0,"protocol":"tcp"}],
			"environment":[{"name":"MODE","value":"fidelity"}],
			"healthCheck":{"command":["CMD-SHELL","true"],"interval":5,"timeout":2,"retries":3}}]}`},
	{Op: "DescribeTaskDefinition", Body: `{"taskDefinition":"fid-web:1"}`},
	{Op: "ListTaskDefinitions", Body: `{"familyPrefix":"fid-web"}`},
	{Op: "ListTaskDefinitionFamilies", Body: `{}`},

	{Op: "CreateService", Body: `{"cluster":"fid-cluster","serviceName":"fid-service","desiredCount":1,
		"deploymentController":{"type":"EXTERNAL"}}`},
	{Op: "DescribeServices", Body: `{"cluster":"fid-cluster","services":["fid-service"]}`},
	{Op: "ListServices", Body: `{"cluster":"fid-cluster"}`},
	{Op: "CreateTaskSet", Body: `{"cluster":"fid-cluster","service":"fid-service","taskDefinition":"fid-web:1",
		"scale":{"value":100,"unit":"PERCENT"},"externalId":"fid-blue"}`,
		Capture: map[string]string{"taskSetArn": "taskSet.taskSetArn"}},
	{Op: "DescribeTaskSets", Body: `{"cluster":"fid-cluster","service":"fid-service"}`},
	{Op: "UpdateServicePrimaryTaskSet", Body: `{"cluster":"fid-cluster","service":"fid-service","primaryTaskSet":"${taskSetArn}"}`, MayRefuse: true},
	{Op: "UpdateTaskSet", Body: `{"cluster":"fid-cluster","service":"fid-service","taskSet":"${taskSetArn}","scale":{"value":50,"unit":"PERCENT"}}`, MayRefuse: true},
	{Op: "UpdateService", Body: `{"cluster":"fid-cluster","service":"fid-service","desiredCount":2}`},
	{Op: "ListTasks", Body: `{"cluster":"fid-cluster"}`},
	{Op: "DescribeTasks", Body: `{"cluster":"fid-cluster","tasks":["0123456789abcdef0123456789abcdef"]}`},
	{Op: "StopTask", Body: `{"cluster":"fid-cluster","task":"0123456789abcdef0123456789abcdef"}`, MayRefuse: true},

	{Op: "DeleteTaskSet", Body: `{"cluster":"fid-cluster","service":"fid-service","taskSet":"${taskSetArn}","force":true}`, MayRefuse: true},
	{Op: "UpdateService", Body: `{"cluster":"fid-cluster","service":"fid-service","desiredCount":0}`},
	{Op: "DeleteService", Body: `{"cluster":"fid-cluster","service":"fid-service","force":true}`},
	{Op: "DeregisterTaskDefinition", Body: `{"taskDefinition":"fid-web:1"}`},
	{Op: "DeleteCluster", Body: `{"cluster":"fid-cluster"}`, MayRefuse: true},
}

func TestECSFidelity(t *testing.T) {
	runFidelity(t, "ecs", ecsScript, nil)
}
