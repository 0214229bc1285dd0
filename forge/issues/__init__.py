"""Issues (and the conversation half of pull requests): numbers, comments, labels, milestones, assignees,
reactions, attachments, references and the timeline."""
